"""Where vertex-mm keeps what it can rebuild: one cache directory for the whole library.

``$VERTEX_MM_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vertex-mm``, else
``~/.cache/vertex-mm``. Read from the environment at each call (not at import), so tests and
long-running processes can redirect it.
"""

from __future__ import annotations

import os
import pathlib
import secrets
from collections.abc import Callable
from typing import IO

__all__ = ["cache_dir", "write_cache_file"]


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


def write_cache_file(path: pathlib.Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a cache file atomically: ``write(f)`` fills a temporary file beside ``path``, which is
    synced and then replaces it (readers never see half a file; a failed write leaves no temporary file).
    Errors propagate: callers that can recompute decide whether a read-only cache matters.

    The file gets the permissions of any file the user creates (0666 less the umask), not
    ``mkstemp``'s 0600: a cache folder shared by several accounts stays readable to them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # else a power cut after the rename can leave an empty file under the name
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
