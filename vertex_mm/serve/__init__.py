"""A small web app to search an index from the browser: ``vertex-mm serve IDX``.

``create_app(index, embedder)`` (in :mod:`vertex_mm.serve.app`) needs the ``serve`` extra
(Starlette, uvicorn, python-multipart); :mod:`vertex_mm.serve.render` writes the HTML and
needs only Pillow, so the offline example can write a results page without a server. The app
is served by :class:`vertex_mm._server.ServerThread`, on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Starlette and uvicorn load only when the app is asked for.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'vertex_mm.serve' has no attribute {name!r}")
