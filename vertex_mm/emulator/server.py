"""Running the emulator: uvicorn in a background thread (tests, notebooks) or in the foreground
(the ``vertex-mm emulator`` command).

>>> from vertex_mm.emulator import run_emulator
>>> with run_emulator(latency=0.15, quota_rpm=600, fault_rate_503=0.05, seed=0) as emu:  # doctest: +SKIP
...     emb = get_embedder("vertex", api_endpoint=emu.url)
...     emu.stats()["requests"]

The listening socket is bound before uvicorn starts, so ``port=0`` yields the real port at once
and connections queue from that moment: start-up takes a few milliseconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from .._server import ServerThread, run_until_signal
from ..embedder import BaseEmbedder
from .app import create_app
from .middleware import ABORT_KEY
from .settings import BackendName, EmulatorSettings, FaultSettings

__all__ = ["EmulatorServer", "run_emulator", "serve_forever"]


@functools.cache
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
            state: dict[str, Any] = dict(self.app_state)  # type: ignore[has-type]
            self.app_state = {**state, ABORT_KEY: transport.abort}

    return DroppableHTTPProtocol


class EmulatorServer(ServerThread):
    """One emulator on ``host:port`` (``port=0``: a free one, see :attr:`port` after start)."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        embedder: BaseEmbedder | None = None,
        clock: Callable[[], float] | None = None,
        storage_client: Any = None,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        app = create_app(self.settings, embedder=embedder, clock=clock, storage_client=storage_client)
        super().__init__(app, host=self.settings.host,
                         port=self.settings.port, http=_droppable_protocol(), name="vertex-mm-emulator")

    def start(self, timeout: float = 10.0) -> "EmulatorServer":
        """Bind, start serving in a daemon thread, and return once requests are answered."""
        if self.settings.preload:
            self.app.state.vectors.resolve()
        super().start(timeout)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, and stop the batch jobs still running (they write no output)."""
        super().stop(timeout)
        state = self.app.state
        state.batch_runner.shutdown(state.batch_jobs.jobs())

    def __enter__(self) -> "EmulatorServer":
        return self if self.is_running() else self.start()

    # -- control (the same as the /emulator/* routes, without HTTP) -------------------------------
    def stats(self) -> dict[str, int]:
        """Counters of prediction calls: requests, 2xx, 4xx, 429, 5xx, 503, dropped, in_flight,
        max_in_flight, and the emulator's own refusals: quota_429 (the quota) and injected (faults)."""
        snapshot: dict[str, int] = self.app.state.stats.snapshot()
        return snapshot

    def reset_stats(self) -> None:
        self.app.state.stats.reset()

    @property
    def faults(self) -> FaultSettings:
        settings: FaultSettings = self.app.state.injector.settings
        return settings

    def set_faults(self, **changes: Any) -> FaultSettings:
        """Change fault settings while running (fields of :class:`FaultSettings`)."""
        injector = self.app.state.injector
        injector.configure(injector.settings.updated(changes))
        return self.faults

    @property
    def backend(self) -> str:
        """The vector backend in use (``"pending"`` until the first request resolves it)."""
        name: str = self.app.state.vectors.backend_name
        return name

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
    storage_client: Any = None,
    batch_line_latency: float = 0.0,
) -> Iterator[EmulatorServer]:
    """Run an emulator in this process for the duration of a ``with`` block.

    ``latency`` is in seconds. ``backend="hashed"`` (or ``embedder=HashedEmbedder()``) skips
    loading the local model: use it where the vectors' meaning does not matter.
    ``storage_client`` serves ``gs://`` media and batch jobs (default: from
    ``STORAGE_EMULATOR_HOST``); ``batch_line_latency`` slows batch jobs down (seconds per line).
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
        batch_line_latency=batch_line_latency,
    )
    settings = EmulatorSettings(host=host, port=port, backend=backend, faults=faults)
    if max_request_bytes is not None:
        settings = dataclasses.replace(settings, max_request_bytes=max_request_bytes)
    server = EmulatorServer(settings, embedder=embedder, clock=clock, storage_client=storage_client).start()
    try:
        yield server
    finally:
        server.stop()


def serve_forever(settings: EmulatorSettings, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; print the URL once listening."""
    out = out or sys.stdout
    err = err or sys.stderr

    def ready(server: ServerThread) -> None:
        assert isinstance(server, EmulatorServer)
        vectors = server.app.state.vectors
        note = " (hashed vectors carry no meaning)" if server.backend == "hashed" else ""
        if vectors.fallback_reason:
            note += f"; local backend unavailable: {vectors.fallback_reason}"
        print(f"vertex-mm emulator: backend {server.backend}{note}; faults {server.faults}", file=err, flush=True)
        print(f"vertex-mm emulator listening on {server.url}", file=out, flush=True)

    code = run_until_signal(EmulatorServer(settings), on_ready=ready)
    print("vertex-mm emulator stopped" if code == 0 else "vertex-mm emulator: server stopped unexpectedly",
          file=err, flush=True)
    return code
