"""Running the emulator: uvicorn in a background thread (tests, notebooks) or in the foreground
(the ``vertex-mm emulator`` command).

>>> from local_backend.emulator import run_emulator
>>> with run_emulator(latency=0.15, quota_rpm=600, fault_rate_503=0.05, seed=0) as emu:  # doctest: +SKIP
...     emb = get_embedder("vertex", api_endpoint=emu.url)
...     emu.stats()["requests"]

The listening socket is bound before uvicorn starts, so ``port=0`` yields the real port at once
and connections queue from that moment: start-up takes a few milliseconds.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable, Iterator, TextIO

from vertex_mm.embedder import BaseEmbedder

from .app import create_app
from .middleware import ABORT_KEY
from .settings import BackendName, EmulatorSettings, FaultSettings

__all__ = ["EmulatorServer", "run_emulator", "serve_forever"]


@functools.lru_cache(maxsize=None)
def _droppable_protocol() -> type:
    """uvicorn's HTTP protocol, plus ``transport.abort`` in each request's ``scope["state"]``
    so that the fault middleware can drop a connection without answering."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class DroppableHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                # asyncio sets TCP_NODELAY only on sockets it creates with proto=IPPROTO_TCP; a
                # pre-bound socket has proto 0. Without it, Nagle holds the response body until
                # the client's delayed ACK: 40 ms added to every call.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)
            # uvicorn copies app_state into every request's scope["state"]; a per-connection
            # copy carries this connection's abort.
            self.app_state = {**self.app_state, ABORT_KEY: transport.abort}

    return DroppableHTTPProtocol


class EmulatorServer:
    """One emulator on ``host:port`` (``port=0``: a free one, see :attr:`port` after start)."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        embedder: BaseEmbedder | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.app = create_app(self.settings, embedder=embedder, clock=clock)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "EmulatorServer":
        """Bind, start serving in a daemon thread, and return once requests are answered."""
        import uvicorn

        if self._thread is not None:
            raise RuntimeError("this emulator was started already")
        if self.settings.preload:
            self.app.state.vectors.resolve()
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.create_server((self.settings.host, self.settings.port), family=family, backlog=1024)
        self._address = sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            http=_droppable_protocol(),
            lifespan="off",
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"vertex-mm-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the emulator on {self.url} stopped during start-up (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator on {self.url} did not start within {timeout:g} s")
            time.sleep(0.002)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; open connections are closed. Safe to call twice."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - a request stuck in a model call
            self._server.force_exit = True
            self._thread.join(timeout)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "EmulatorServer":
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where -------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._address[0] if self._address else self.settings.host

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the emulator is not started; its port is not known yet")
        return self._address[1]

    @property
    def url(self) -> str:
        """``http://host:port``: pass it as ``api_endpoint`` (Vertex) or ``base_url`` (Gemini)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- control (the same as the /emulator/* routes, without HTTP) -------------------------------
    def stats(self) -> dict[str, int]:
        """Counters of prediction calls: requests, 2xx, 4xx, 429, 5xx, 503, dropped, in_flight,
        max_in_flight."""
        return self.app.state.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.state.stats.reset()

    @property
    def faults(self) -> FaultSettings:
        return self.app.state.injector.settings

    def set_faults(self, **changes: Any) -> FaultSettings:
        """Change fault settings while running (fields of :class:`FaultSettings`)."""
        injector = self.app.state.injector
        injector.configure(injector.settings.updated(changes))
        return injector.settings

    @property
    def backend(self) -> str:
        """The vector backend in use (``"pending"`` until the first request resolves it)."""
        return self.app.state.vectors.backend_name

    def __repr__(self) -> str:
        where = self.url if self._address else "not started"
        return f"EmulatorServer({where}, backend={self.backend!r}, faults={self.faults})"


@contextlib.contextmanager
def run_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: float = 0.0,
    quota_rpm: int | None = None,
    quota_window: float = 60.0,
    fault_rate_503: float = 0.0,
    fault_rate_429: float = 0.0,
    drop_rate: float = 0.0,
    seed: int | None = None,
    retry_after: float = 1.0,
    backend: BackendName = "auto",
    embedder: BaseEmbedder | None = None,
    max_request_bytes: int | None = None,
    clock: Callable[[], float] | None = None,
) -> Iterator[EmulatorServer]:
    """Run an emulator in this process for the duration of a ``with`` block.

    ``latency`` is in seconds. ``backend="hashed"`` (or ``embedder=HashedEmbedder()``) skips
    loading the local model: use it where the vectors' meaning does not matter.
    """
    faults = FaultSettings(
        latency=latency,
        quota_rpm=quota_rpm,
        quota_window=quota_window,
        fault_rate_503=fault_rate_503,
        fault_rate_429=fault_rate_429,
        drop_rate=drop_rate,
        seed=seed,
        retry_after=retry_after,
    )
    extra = {"max_request_bytes": max_request_bytes} if max_request_bytes is not None else {}
    settings = EmulatorSettings(host=host, port=port, backend=backend, faults=faults, **extra)
    server = EmulatorServer(settings, embedder=embedder, clock=clock).start()
    try:
        yield server
    finally:
        server.stop()


def serve_forever(settings: EmulatorSettings, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; print the URL once listening."""
    out = out or sys.stdout
    err = err or sys.stderr
    server = EmulatorServer(settings)

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        vectors = server.app.state.vectors
        note = " (hashed vectors carry no meaning)" if server.backend == "hashed" else ""
        if vectors.fallback_reason:
            note += f"; local backend unavailable: {vectors.fallback_reason}"
        print(f"vertex-mm emulator: backend {server.backend}{note}; faults {server.faults}", file=err, flush=True)
        print(f"vertex-mm emulator listening on {server.url}", file=out, flush=True)
        while server.is_running():
            time.sleep(0.2)
        print("vertex-mm emulator: server stopped unexpectedly", file=err, flush=True)
        return 1
    except KeyboardInterrupt:
        print("vertex-mm emulator stopped", file=err, flush=True)
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
