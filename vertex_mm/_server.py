"""The one way vertex-mm serves HTTP: uvicorn in a daemon thread, on a socket bound first.

Used by the emulator (``vertex-mm emulator``, :func:`vertex_mm.emulator.run_emulator`) and the
search page (``vertex-mm serve``), in tests and in the foreground alike.

Binding the listening socket before uvicorn starts means ``port=0`` yields the real port at
once, and connections queue from that moment: start-up takes milliseconds.

>>> with ServerThread(app) as server:          # doctest: +SKIP
...     requests.get(server.url + "/")
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_HOST", "BodyTooLarge", "LimitBody", "ServerThread", "TrackedSend", "run_until_signal"]

DEFAULT_HOST = "127.0.0.1"


class ServerThread:
    """Serve ``app`` on ``host:port`` (``port=0``: a free one, see :attr:`port` after start).

    ``http`` is a uvicorn HTTP protocol class (the emulator's can drop connections). On
    :meth:`stop`, requests still running get ``grace`` seconds to finish, then are cancelled.
    """

    def __init__(self, app: Any, *, host: str = DEFAULT_HOST, port: int = 0, http: Any = "auto",
                 name: str = "vertex-mm-server", log_level: str = "warning", grace: float = 2.0) -> None:
        self.app = app
        self._grace = grace
        self._host = host
        self._port = port
        self._http = http
        self._name = name
        self._log_level = log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._dual_stack = False

    def start(self, timeout: float = 10.0) -> "ServerThread":
        """Bind, start serving in a daemon thread, and return once requests are answered."""
        import uvicorn

        if self._thread is not None:
            raise RuntimeError(f"{self._name} was started already")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # "::" means every interface: IPv4 too where the system can (CPython's create_server
        # otherwise sets IPV6_V6ONLY, and 127.0.0.1 and IPv4 clients are refused).
        self._dual_stack = self._host == "::" and socket.has_dualstack_ipv6()
        try:
            sock = socket.create_server((self._host, self._port), family=family, backlog=1024,
                                        dualstack_ipv6=self._dual_stack)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}") from exc
        except OverflowError as exc:  # a port outside 0-65535
            raise OSError(None, f"cannot listen on {self._host}:{self._port}: {exc}") from exc
        self._address = sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            http=self._http,
            lifespan="off",
            log_config=None,  # leave the host process's logging alone
            log_level=self._log_level,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=self._grace,  # type: ignore[arg-type]  # seconds for asyncio.timeout: a float works
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"{self._name}:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self._name} on {self.url} stopped during start-up (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self._name} on {self.url} did not start within {timeout:g} s")
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

    def __enter__(self) -> "ServerThread":
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._address[0] if self._address else self._host

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError(f"{self._name} is not started; its port is not known yet")
        return self._address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loopback_url(self) -> str:
        """The URL this machine reaches the server at when it listens on every interface
        (``0.0.0.0``, or ``::``: IPv4 too where the system is dual-stack, else IPv6 only);
        :attr:`url` when it listens on one address."""
        if self._host not in ("0.0.0.0", "::", ""):
            return self.url
        if self._host == "::" and not self._dual_stack:
            return f"http://[::1]:{self.port}"
        return f"http://127.0.0.1:{self.port}"


def run_until_signal(server: ServerThread, *, on_ready: Callable[[ServerThread], None] | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM (0), or until the server dies (1)."""

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        if on_ready is not None:
            on_ready(server)
        while server.is_running():
            time.sleep(0.2)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BodyTooLarge(Exception):
    """Raised inside an app when a request body passes :class:`LimitBody`'s bound."""


class TrackedSend:
    """An ASGI ``send`` that remembers whether the response has started: after that, an error
    can no longer be answered with a response of its own."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Any) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)


class LimitBody:
    """ASGI middleware: refuse a request body larger than ``max_bytes`` with 413, as early as
    possible: at once when ``Content-Length`` says so, else as soon as the bytes read pass the
    bound (a streamed upload is never read, let alone held, beyond it)."""

    def __init__(self, app: Any, max_bytes: int, *, respond: Callable[[int], Any] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.respond = respond

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        tracked = TrackedSend(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if not tracked.started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.responses import PlainTextResponse

        response = self.respond(self.max_bytes) if self.respond is not None else PlainTextResponse(
            f"request body larger than {self.max_bytes:,} bytes", status_code=413)
        # Connection: close, so the client stops sending and nothing more is read.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
