"""The one way vertex-mm imports an optional dependency: :func:`require`.

Every optional import goes through here so that a missing package always raises
:class:`~vertex_mm.errors.MissingDependencyError` with the same kind of message: what needed it,
which module is missing, and the ``pip install "vertex-mm[EXTRA]"`` line that brings it.

>>> faiss = require("index", "faiss", what="the FAISS index backend")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["install_hint", "require"]


def install_hint(extra: str) -> str:
    """The install line for an extra of vertex-mm (or a bare package name given as ``pkg:NAME``,
    for tools that no extra ships, e.g. ``pkg:colpali-engine``)."""
    if extra.startswith("pkg:"):
        return f"pip install {extra[4:]}"
    return f'pip install "vertex-mm[{extra}]"'


def require(extra: str, module: str, *, what: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    ``what`` says what needs it ("the FAISS index backend"); the message reads
    ``<what> needs <module> (<reason>): pip install "vertex-mm[<extra>]"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{what or module} needs {top} ({exc}): {install_hint(extra)}"
        ) from exc
