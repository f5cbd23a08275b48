"""Running the search app with uvicorn: in the foreground (``vertex-mm serve``) or in a
background thread (tests, notebooks). Binds 127.0.0.1 unless a host is given."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

__all__ = ["DEFAULT_HOST", "BackgroundServer", "serve"]

DEFAULT_HOST = "127.0.0.1"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(app: Any, *, host: str = DEFAULT_HOST, port: int = 8000, log_level: str = "warning",
          on_ready: Any = None) -> None:
    """Serve ``app`` until Ctrl-C / SIGTERM. ``port=0`` picks a free port. ``on_ready(url)``
    is called once the socket accepts connections."""
    import uvicorn

    port = port or _free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off")
    server = uvicorn.Server(config)
    if on_ready is not None:
        def _announce() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                on_ready(f"http://{host}:{port}")

        threading.Thread(target=_announce, daemon=True).start()
    server.run()


class BackgroundServer:
    """``with BackgroundServer(app) as url: ...`` serves ``app`` on a free local port in a
    daemon thread and stops it on exit."""

    def __init__(self, app: Any, *, host: str = DEFAULT_HOST, port: int = 0, start_timeout: float = 30.0) -> None:
        import uvicorn

        self.host = host
        self.port = port or _free_port(host)
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="vertex-mm-serve", daemon=True)
        self._timeout = start_timeout

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the search server did not start on {self.url}")
            time.sleep(0.05)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
