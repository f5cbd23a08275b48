"""The REST routes of batch prediction jobs, under ``/v1`` and ``/v1beta1`` (``{v}``)::

    POST   /{v}/projects/{p}/locations/{l}/batchPredictionJobs             create
    GET    /{v}/projects/{p}/locations/{l}/batchPredictionJobs             list (pageSize, pageToken, filter)
    GET    /{v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}        get
    POST   /{v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}:cancel cancel
    DELETE /{v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}        delete (a finished job)

google-genai's ``client.batches`` (``create``, ``get``, ``list``, ``cancel``, ``delete``) calls
exactly these. Creating a job needs Cloud Storage (``STORAGE_EMULATOR_HOST`` or an injected
client): without it the create call is refused with 400 FAILED_PRECONDITION. The fault knob
``batch_unsupported`` refuses every create, as the model card says the service may.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .batch_jobs import BatchJobStore, parse_job_spec
from .errors import GoogleAPIException, parse_json_payload
from .faults import FaultInjector
from .gcs_media import GcsMedia

__all__ = ["build_batch_routes"]


def _parent(request: Request) -> str:
    p = request.path_params
    return f"projects/{p['project']}/locations/{p['location']}"


def _store(request: Request) -> BatchJobStore:
    store: BatchJobStore = request.app.state.batch_jobs
    return store


async def create_job(request: Request) -> Response:
    body: Any = parse_json_payload(await request.body())
    spec = parse_job_spec(body, _parent(request))
    injector: FaultInjector = request.app.state.injector
    if injector.settings.batch_unsupported:
        raise GoogleAPIException(
            400, f"Batch prediction is not supported for {spec.model_name}. "
                 "(vertex-mm emulator: batch_unsupported is set, as the model card says of gemini-embedding-2)",
            status="FAILED_PRECONDITION")
    media: GcsMedia = request.app.state.gcs_media
    if not media.enabled:
        raise GoogleAPIException(
            400, "The vertex-mm emulator has no Cloud Storage to read batch inputs from: start a storage emulator "
                 "and set STORAGE_EMULATOR_HOST (vertex_mm.testing.storage.storage_emulator() does both).",
            status="FAILED_PRECONDITION")
    job = _store(request).create(_parent(request), spec)
    return JSONResponse(job.resource())


async def get_job(request: Request) -> Response:
    return JSONResponse(_store(request).get(_parent(request), request.path_params["job_id"]).resource())


async def list_jobs(request: Request) -> Response:
    q = request.query_params
    size = q.get("pageSize", "0")
    if not size.isdigit():
        raise GoogleAPIException(400, f"pageSize must be a non-negative integer, got {size!r}.")
    jobs, token = _store(request).list(_parent(request), page_size=int(size), page_token=q.get("pageToken", ""),
                                       filter=q.get("filter", ""))
    out: dict[str, Any] = {"batchPredictionJobs": [j.resource() for j in jobs]}
    if token:
        out["nextPageToken"] = token
    return JSONResponse(out)


async def cancel_job(request: Request) -> Response:
    _store(request).cancel(_parent(request), request.path_params["job_id"])
    return JSONResponse({})  # google.protobuf.Empty


async def delete_job(request: Request) -> Response:
    job = _store(request).delete(_parent(request), request.path_params["job_id"])
    # A long-running operation that is already done.
    return JSONResponse({"name": f"{job.name}/operations/{job.id}", "done": True,
                         "metadata": {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"},
                         "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}})


def build_batch_routes(versions: tuple[str, ...]) -> list[Route]:
    routes: list[Route] = []
    for v in versions:
        base = f"/{v}/projects/{{project}}/locations/{{location}}/batchPredictionJobs"
        routes += [
            Route(base, create_job, methods=["POST"]),
            Route(base, list_jobs, methods=["GET"]),
            Route(base + "/{job_id}:cancel", cancel_job, methods=["POST"]),
            Route(base + "/{job_id}", get_job, methods=["GET"]),
            Route(base + "/{job_id}", delete_job, methods=["DELETE"]),
        ]
    return routes
