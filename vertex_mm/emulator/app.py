"""``create_app``: the emulator as a Starlette app, built from data (routes, middleware, handlers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ..embedder import BaseEmbedder
from ..gcs import emulator_client
from .batch_jobs import BatchJobStore
from .batch_runner import BatchRunner
from .errors import EXCEPTION_HANDLERS, GoogleAPIException, error_response
from .faults import FaultInjector, Stats
from .gcs_media import GcsMedia
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
    storage_client: Any = None,
) -> Starlette:
    """An ASGI app serving the Vertex / Gemini embedding REST API.

    ``embedder`` (any :class:`~vertex_mm.BaseEmbedder`) chooses the vectors; otherwise
    ``settings.backend`` does. ``clock`` replaces ``time.monotonic`` for the quota window.
    ``storage_client`` (a ``google.cloud.storage.Client``) reads ``gs://`` media and runs batch
    jobs; by default one is made when ``STORAGE_EMULATOR_HOST`` is set, else there is none
    (``gs://`` URIs then stand in for their bytes, and batch jobs are refused).
    Its ``state`` holds ``settings``, ``vectors``, ``injector`` (faults), ``stats``,
    ``gcs_media``, ``batch_jobs`` (the job store) and ``batch_runner``.
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
    client = storage_client if storage_client is not None else emulator_client()
    app.state.gcs_media = GcsMedia(client, max_bytes=settings.max_gcs_object_bytes)
    app.state.batch_runner = BatchRunner(app.state.gcs_media, app.state.vectors, lambda: injector.settings)
    app.state.batch_jobs = BatchJobStore(app.state.batch_runner.start)
    return app
