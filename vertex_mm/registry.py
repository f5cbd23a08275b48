"""``get_embedder(name, **options)``: one entry point for every backend.

Backends are imported lazily, so a cloud pipeline never imports torch and a laptop without
google credentials never touches them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ._optional import install_hint
from .embedder import BaseEmbedder
from .errors import InputError, MissingDependencyError

__all__ = ["get_embedder", "list_backends", "register_backend"]

# name -> "module:factory", imported on first use.
_BACKENDS: dict[str, str] = {
    "vertex": "vertex_mm.vertex:VertexEmbedder",
    "gemini": "vertex_mm.gemini:GeminiEmbedder",
    "local": "local_backend:create_local_embedder",
    # Deterministic, meaningless vectors, no model: for testing pipelines (vertex_mm.testing).
    "hashed": "vertex_mm.testing.hashed:HashedEmbedder",
}

# backend -> the extra that brings what it imports
_EXTRA = {"local": "local"}


def register_backend(name: str, target: str | Callable[..., BaseEmbedder]) -> None:
    """Add a backend: ``target`` is a factory or a ``"module:attr"`` string."""
    _BACKENDS[name] = target  # type: ignore[assignment]


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def get_embedder(name: str = "vertex", **options: Any) -> BaseEmbedder:
    """Create an embedder. ``name`` is ``"vertex"``, ``"gemini"`` or ``"local"``.

    >>> emb = get_embedder("local")                                  # offline
    >>> emb = get_embedder("vertex", project="p", location="us-central1")
    >>> emb = get_embedder("vertex", api_endpoint="http://127.0.0.1:8080")   # the emulator
    """
    try:
        target = _BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(list_backends())}") from None
    if callable(target):
        made: BaseEmbedder = target(**options)
        return made
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f": {install_hint(_EXTRA[name])}" if name in _EXTRA else ""
        raise MissingDependencyError(f"backend {name!r} cannot be imported ({exc}){hint}") from exc
    embedder: BaseEmbedder = getattr(module, attr)(**options)
    return embedder
