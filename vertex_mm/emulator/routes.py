"""The emulator's routes: the Vertex AI REST paths the Google SDKs call, plus admin routes.

Served under both ``/v1`` and ``/v1beta1`` (``{v}``):

- ``GET  /{v}/publishers/google/models/{model}``: the model lookup of ``from_pretrained``;
- ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{model}:predict``:
  ``multimodalembedding@001``, one instance per request;
- ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{model}:embedContent``:
  ``gemini-embedding-2``, one content per request, with ``usageMetadata`` (estimated tokens,
  per modality too) and ``truncated`` past the token budget, honouring ``videoMetadata``,
  ``autoTruncate`` and ``documentOcr`` (:mod:`.embed_content`);
- both methods also at ``/{v}/publishers/google/models/{model}:…``, the path of Vertex express
  mode (an API key and no project);
- ``/{v}/projects/{p}/locations/{l}/batchPredictionJobs[/{id}[:cancel]]``: batch prediction
  jobs of gemini-embedding-2 (:mod:`.batch_routes`).

``gs://`` media are read from Cloud Storage when the emulator has a storage client, and stand
for their bytes otherwise (:mod:`.gcs_media`).

Admin: ``GET /emulator/stats`` (counters), ``DELETE /emulator/stats`` (reset),
``GET /emulator/faults``, ``POST /emulator/faults`` (JSON body: the fields of
:class:`~.settings.FaultSettings` to change) and ``GET /emulator/info`` (backend in use).

Request bodies are parsed and validated with :mod:`vertex_mm.wire`, the same module the
client builds them with, against the shared limits table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..wire import build_prediction, parse_instance
from .batch_jobs import BatchJobStore
from .batch_routes import build_batch_routes
from .embed_content import embed_content_answer
from .errors import GoogleAPIException, parse_json_payload
from .faults import FaultInjector, Stats
from .gcs_media import GcsMedia
from .models import MODELS, PublisherModel, find_model
from .settings import EmulatorSettings, SettingsError
from .vectors import VectorService

__all__ = ["DEPLOYED_MODEL_ID", "build_routes"]

API_VERSIONS = ("v1", "v1beta1")
#: How much of a too-large body is read (and thrown away) before the 400, in limits.
DRAIN_FACTOR = 2
#: What the service reports for publisher models (no user deployment behind them).
DEPLOYED_MODEL_ID = "vertex-mm-emulator"


# -- Vertex and Gemini -------------------------------------------------------------------------


async def get_publisher_model(request: Request) -> Response:
    model = find_model(request.path_params["model"], path=request.url.path.split("/", 2)[-1])
    return JSONResponse(model.resource())


def _predict_sync(body: Any, model: PublisherModel, vectors: VectorService, media: GcsMedia) -> Response:
    if not isinstance(body, dict):
        raise GoogleAPIException(400, "Invalid JSON payload received: the request body must be an object.")
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise GoogleAPIException(400, "instances must be a non-empty list; send exactly one instance.")
    if len(instances) > 1:
        # A hard limit of the service, not of the emulator.
        raise GoogleAPIException(
            400, f"{model.model_id} accepts exactly one instance per request; got {len(instances)}."
        )
    request = media.resolve(parse_instance(instances[0], body.get("parameters"), model.limits), model.limits)
    prediction = build_prediction(vectors.predict(request))
    return JSONResponse({"predictions": [prediction], "deployedModelId": DEPLOYED_MODEL_ID})


def _model_method(method: str, answer: Callable[[Any, PublisherModel, VectorService, GcsMedia], Response]) -> Any:
    """The route of one model method: find the model, read the body (async), then compute the
    answer in a worker thread (decoding media and running a model would block the event loop)."""

    async def route(request: Request) -> Response:
        model = _model_for(request, method)
        body = await _read_json(request)
        state = request.app.state
        return await run_in_threadpool(answer, body, model, state.vectors, state.gcs_media)

    return route


predict = _model_method("predict", _predict_sync)
embed_content = _model_method("embedContent", embed_content_answer)


def _model_for(request: Request, method: str) -> PublisherModel:
    p = request.path_params
    path = f"publishers/google/models/{p['model']}"
    if "project" in p:  # the express-mode path (an API key, no project) has neither
        path = f"projects/{p['project']}/locations/{p['location']}/{path}"
    return find_model(p["model"], path=path, method=method)  # type: ignore[arg-type]


async def _read_json(request: Request) -> Any:
    """The JSON body, refused with 400 beyond ``max_request_bytes`` like the service does."""
    limit: int = request.app.state.settings.max_request_bytes
    declared = request.headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    body = bytearray()
    drained = 0
    async for chunk in request.stream():
        # Keep reading when over the limit (and discard), so the client gets to read the 400;
        # but only so far: past DRAIN_FACTOR x the limit the connection is simply closed.
        if not too_large:
            body += chunk
            too_large = len(body) > limit
        else:
            drained += len(chunk)
            if drained > DRAIN_FACTOR * limit:
                break
    if too_large:
        raise GoogleAPIException(400, f"Request payload size exceeds the limit: {limit} bytes.")
    return parse_json_payload(body)


# -- admin -------------------------------------------------------------------------------------


async def get_stats(request: Request) -> Response:
    stats: Stats = request.app.state.stats
    return JSONResponse(stats.snapshot())


async def reset_stats(request: Request) -> Response:
    stats: Stats = request.app.state.stats
    stats.reset()
    return JSONResponse(stats.snapshot())


async def get_faults(request: Request) -> Response:
    injector: FaultInjector = request.app.state.injector
    return JSONResponse(injector.settings.as_dict())


async def set_faults(request: Request) -> Response:
    """Change faults while running: the JSON body holds the fields to change (``latency`` in
    seconds, or ``latency_ms``). The quota window and the random sequence restart."""
    injector: FaultInjector = request.app.state.injector
    changes = await _read_json(request)
    if not isinstance(changes, dict):
        raise GoogleAPIException(400, "the body must be a JSON object of fault settings to change")
    if "latency_ms" in changes:
        latency_ms = changes.pop("latency_ms")
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)):
            raise GoogleAPIException(400, f"latency_ms must be a number, got {latency_ms!r}")
        changes["latency"] = latency_ms / 1000.0
    try:
        injector.configure(injector.settings.updated(changes))
    except (SettingsError, TypeError) as exc:
        raise GoogleAPIException(400, str(exc)) from None
    return JSONResponse(injector.settings.as_dict())


async def get_info(request: Request) -> Response:
    state = request.app.state
    settings: EmulatorSettings = state.settings
    vectors: VectorService = state.vectors
    batch_jobs: BatchJobStore = state.batch_jobs
    return JSONResponse(
        {
            "backend": vectors.backend_name,
            "fallback_reason": vectors.fallback_reason,
            "models": {m.model_id: m.method for m in MODELS.values()},
            "max_request_bytes": settings.max_request_bytes,
            "faults": state.injector.settings.as_dict(),
            "cloud_storage": state.gcs_media.enabled,
            "batch_jobs_created": batch_jobs.created,
        }
    )


def build_routes() -> list[Route]:
    routes: list[Route] = []
    for v in API_VERSIONS:
        express = f"/{v}/publishers/google/models/{{model}}"  # Vertex express mode: API key, no project
        base = f"/{v}/projects/{{project}}/locations/{{location}}/publishers/google/models/{{model}}"
        routes += [Route(express, get_publisher_model, methods=["GET"])]
        for prefix in (base, express):
            routes += [
                Route(prefix + ":predict", predict, methods=["POST"]),
                Route(prefix + ":embedContent", embed_content, methods=["POST"]),
            ]
    routes += build_batch_routes(API_VERSIONS)
    routes += [
        Route("/emulator/stats", get_stats, methods=["GET"]),
        Route("/emulator/stats", reset_stats, methods=["DELETE"]),
        Route("/emulator/faults", get_faults, methods=["GET"]),
        Route("/emulator/faults", set_faults, methods=["POST"]),
        Route("/emulator/info", get_info, methods=["GET"]),
    ]
    return routes
