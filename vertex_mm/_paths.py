"""Where vertex-mm keeps what it can rebuild: one cache directory for the whole library.

``$VERTEX_MM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vertex-mm``, else
``~/.cache/vertex-mm``. Read from the environment at each call (not at import), so tests and
long-running processes can redirect it.
"""

from __future__ import annotations

import os
import pathlib

__all__ = ["cache_dir"]


def cache_dir(*parts: str, create: bool = False) -> pathlib.Path:
    """The cache directory, or a folder below it (``cache_dir("ocr")``)."""
    env = os.environ.get("VERTEX_MM_CACHE_DIR")
    if env:
        root = pathlib.Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (pathlib.Path(xdg).expanduser() if xdg else pathlib.Path.home() / ".cache") / "vertex-mm"
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
