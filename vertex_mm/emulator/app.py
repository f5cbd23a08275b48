"""``create_app``: the emulator as a Starlette app, built from data (routes, middleware, handlers)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ..embedder import BaseEmbedder
from .errors import EXCEPTION_HANDLERS, GoogleAPIException, error_response
from .faults import FaultInjector, Stats
from .middleware import FaultMiddleware, InternalErrorMiddleware
from .routes import build_routes
from .settings import EmulatorSettings
from .vectors import VectorService

__all__ = ["create_app"]


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Last resort (InternalErrorMiddleware answers first); Starlette re-raises after it.
    return error_response(GoogleAPIException(500, f"Internal error in the vertex-mm emulator: {type(exc).__name__}: {exc}"))


def create_app(
    settings: EmulatorSettings | None = None,
    *,
    embedder: BaseEmbedder | None = None,
    clock: Callable[[], float] | None = None,
) -> Starlette:
    """An ASGI app serving the Vertex / Gemini embedding REST API.

    ``embedder`` (any :class:`~vertex_mm.BaseEmbedder`) chooses the vectors; otherwise
    ``settings.backend`` does. ``clock`` replaces ``time.monotonic`` for the quota window.
    Its ``state`` holds ``settings``, ``vectors``, ``injector`` (faults) and ``stats``.
    """
    settings = settings or EmulatorSettings()
    injector = FaultInjector(settings.faults, **({"clock": clock} if clock else {}))
    stats = Stats()
    app = Starlette(
        routes=build_routes(),
        middleware=[Middleware(FaultMiddleware, injector=injector, stats=stats), Middleware(InternalErrorMiddleware)],
        exception_handlers={**EXCEPTION_HANDLERS, Exception: _internal_error},
    )
    app.state.settings = settings
    app.state.injector = injector
    app.state.stats = stats
    app.state.vectors = VectorService(embedder, backend=settings.backend)
    return app
