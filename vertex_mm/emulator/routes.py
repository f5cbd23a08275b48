"""The emulator's routes: the Vertex AI REST paths the Google SDKs call, plus admin routes.

Served under both ``/v1`` and ``/v1beta1`` (``{v}``):

- ``GET  /{v}/publishers/google/models/{model}``: the model lookup of ``from_pretrained``;
- ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{model}:predict``:
  ``multimodalembedding@001``, one instance per request;
- ``POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{model}:embedContent``:
  ``gemini-embedding-2``, one content per request.

Admin: ``GET /emulator/stats`` (counters), ``DELETE /emulator/stats`` (reset),
``GET /emulator/faults``, ``POST /emulator/faults`` (JSON body: the fields of
:class:`~.settings.FaultSettings` to change) and ``GET /emulator/info`` (backend in use).

Request bodies are parsed and validated with :mod:`vertex_mm.wire`, the same module the
client builds them with, against the shared limits table.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..wire import build_embed_content_response, build_prediction, parse_embed_content_body, parse_instance
from .errors import GoogleAPIException
from .faults import FaultInjector, Stats
from .models import MODELS, PublisherModel, find_model
from .settings import EmulatorSettings, SettingsError
from .vectors import VectorService

__all__ = ["DEPLOYED_MODEL_ID", "build_routes"]

API_VERSIONS = ("v1", "v1beta1")
#: What the service reports for publisher models (no user deployment behind them).
DEPLOYED_MODEL_ID = "vertex-mm-emulator"


# -- Vertex and Gemini -------------------------------------------------------------------------


async def get_publisher_model(request: Request) -> Response:
    model = find_model(request.path_params["model"], path=request.url.path.split("/", 2)[-1])
    return JSONResponse(model.resource())


async def predict(request: Request) -> Response:
    model = _model_for(request, "predict")
    body = await _read_json(request)
    vectors: VectorService = request.app.state.vectors
    return await run_in_threadpool(_predict_sync, body, model, vectors)


def _predict_sync(body: Any, model: PublisherModel, vectors: VectorService) -> Response:
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
    request = parse_instance(instances[0], body.get("parameters"), model.limits)
    prediction = build_prediction(vectors.predict(request))
    return JSONResponse({"predictions": [prediction], "deployedModelId": DEPLOYED_MODEL_ID})


async def embed_content(request: Request) -> Response:
    model = _model_for(request, "embedContent")
    body = await _read_json(request)
    vectors: VectorService = request.app.state.vectors
    return await run_in_threadpool(_embed_content_sync, body, model, vectors)


def _embed_content_sync(body: Any, model: PublisherModel, vectors: VectorService) -> Response:
    request = parse_embed_content_body(body, model.limits)
    return JSONResponse(build_embed_content_response(vectors.embed_content(request).tolist()))


def _model_for(request: Request, method: str) -> PublisherModel:
    p = request.path_params
    path = f"projects/{p['project']}/locations/{p['location']}/publishers/google/models/{p['model']}"
    return find_model(p["model"], path=path, method=method)  # type: ignore[arg-type]


async def _read_json(request: Request) -> Any:
    """The JSON body, refused with 400 beyond ``max_request_bytes`` like the service does."""
    limit: int = request.app.state.settings.max_request_bytes
    declared = request.headers.get("content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    body = bytearray()
    async for chunk in request.stream():
        # Keep reading when over the limit (and discard), so the client gets to read the 400.
        if not too_large:
            body += chunk
            too_large = len(body) > limit
    if too_large:
        raise GoogleAPIException(400, f"Request payload size exceeds the limit: {limit} bytes.")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise GoogleAPIException(400, f"Invalid JSON payload received. {exc}") from None


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
    return JSONResponse(
        {
            "backend": vectors.backend_name,
            "fallback_reason": vectors.fallback_reason,
            "models": {m.model_id: m.method for m in MODELS.values()},
            "max_request_bytes": settings.max_request_bytes,
            "faults": state.injector.settings.as_dict(),
        }
    )


def build_routes() -> list[Route]:
    routes: list[Route] = []
    for v in API_VERSIONS:
        base = f"/{v}/projects/{{project}}/locations/{{location}}/publishers/google/models/{{model}}"
        routes += [
            Route(f"/{v}/publishers/google/models/{{model}}", get_publisher_model, methods=["GET"]),
            Route(base + ":predict", predict, methods=["POST"]),
            Route(base + ":embedContent", embed_content, methods=["POST"]),
        ]
    routes += [
        Route("/emulator/stats", get_stats, methods=["GET"]),
        Route("/emulator/stats", reset_stats, methods=["DELETE"]),
        Route("/emulator/faults", get_faults, methods=["GET"]),
        Route("/emulator/faults", set_faults, methods=["POST"]),
        Route("/emulator/info", get_info, methods=["GET"]),
    ]
    return routes
