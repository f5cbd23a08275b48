"""Runs the emulator's batch prediction jobs, one background thread per job.

A job waits ``batch_start_delay`` seconds in PENDING, reads every input JSONL file from Cloud
Storage (FAILED if one cannot be read: the service validates its input before it runs), then
turns RUNNING and embeds line by line, ``batch_line_latency`` seconds each, through the same
path as ``:embedContent`` (:mod:`vertex_mm.wire` parsing and limits, ``gs://`` media read from
storage, :class:`~.vectors.VectorService` vectors). A bad line becomes an output line with a
``status`` (Google's documented ``"Bad Request: {json error}"`` form, :func:`row_status`) and never
stops the job; a good line has ``"status": ""`` and a ``processed_time``, as the service writes. The output goes to
``{outputUriPrefix}/prediction-model-{time}/predictions.jsonl`` (the folder the service uses for
Gemini models, returned in ``outputInfo.gcsOutputDirectory``), written once at the end, also
after a cancel (what was done by then). ``completionStats`` are updated after every line, so a
client can show progress.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from ..errors import VertexMMError
from ..gcs import join_gs, write_object
from ..wire import build_batch_output_line, parse_batch_input_line
from ..wire.embed_content import parse_embed_content_options
from .batch_jobs import BatchJob, rfc3339
from .embed_content import checked_usage, with_video_span_cut
from .errors import STATUS_BY_CODE, GoogleAPIException, strict_json_loads
from .gcs_media import GcsMedia
from .settings import FaultSettings
from .vectors import VectorService

__all__ = ["BatchRunner", "row_status"]

log = logging.getLogger("vertex_mm.emulator")

_RUNNING = frozenset({"JOB_STATE_RUNNING"})
_ACTIVE = frozenset({"JOB_STATE_RUNNING", "JOB_STATE_CANCELLING"})


def row_status(code: int, message: str, status: str | None = None) -> str:
    """A failed row's ``status`` as Google's Gemini batch page shows it: the HTTP reason, then the
    JSON error envelope (``Bad Request: {"error": {"code": 400, "message": …, "status":
    "INVALID_ARGUMENT"}}``), so clients are tested against that shape, not an easier one."""
    envelope = {"error": {"code": code, "message": message, "status": status or STATUS_BY_CODE.get(code, "UNKNOWN")}}
    try:
        reason = HTTPStatus(code).phrase
    except ValueError:
        reason = "Error"
    return f"{reason}: {json.dumps(envelope, ensure_ascii=False)}"


class BatchRunner:
    """Starts a thread per job; :meth:`shutdown` asks them all to stop and waits briefly."""

    def __init__(self, media: GcsMedia, vectors: VectorService, faults: Callable[[], FaultSettings], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._media = media
        self._vectors = vectors
        self._faults = faults
        self._clock = clock
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self, job: BatchJob) -> None:
        thread = threading.Thread(target=self._run, args=(job,), name=f"vertex-mm-batch-{job.id}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def shutdown(self, jobs: list[BatchJob], timeout: float = 2.0) -> None:
        """Stop every job (the emulator is stopping): no output is written any more, since the
        storage emulator may be gone too."""
        self._stopping.set()
        for job in jobs:
            job.cancel_requested.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- one job -------------------------------------------------------------------------------
    def _run(self, job: BatchJob) -> None:
        try:
            self._run_job(job)
        except Exception as exc:  # a bug must fail the job, not kill the thread silently
            log.exception("batch job %s failed in the emulator", job.name)
            job.transition(_ACTIVE | {"JOB_STATE_PENDING"}, state="JOB_STATE_FAILED", end_time=self._clock(),
                           error=f"Internal error in the vertex-mm emulator: {type(exc).__name__}: {exc}")

    def _wait(self, job: BatchJob, seconds: float) -> bool:
        """Sleep ``seconds``; True if the job was asked to stop meanwhile."""
        return job.cancel_requested.wait(seconds) if seconds > 0 else job.cancel_requested.is_set()

    def _run_job(self, job: BatchJob) -> None:
        if self._wait(job, self._faults().batch_start_delay):
            return  # cancelled while pending: the store already set CANCELLED
        try:
            lines = self._read_inputs(job)
        except (VertexMMError, GoogleAPIException) as exc:
            job.transition(frozenset({"JOB_STATE_PENDING"}), state="JOB_STATE_FAILED", end_time=self._clock(),
                           error=f"Failed to read the input: {exc}")
            return
        if not job.transition(frozenset({"JOB_STATE_PENDING"}), state="JOB_STATE_RUNNING", start_time=self._clock(),
                              total=len(lines)):
            return
        with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as out:
            for raw in lines:
                if self._wait(job, self._faults().batch_line_latency):
                    break
                line, ok = self._one_line(job, raw)
                out.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
                job.update(successful=job.successful + ok, failed=job.failed + (not ok))
            out.seek(0)
            self._finish(job, out)

    def _read_inputs(self, job: BatchJob) -> list[bytes]:
        if not self._media.enabled or self._stopping.is_set():
            raise GoogleAPIException(400, "the vertex-mm emulator has no Cloud Storage client")
        lines: list[bytes] = []
        for uri in job.spec.input_uris:
            data = self._media.read(uri)
            lines += [line for line in data.splitlines() if line.strip()]
        return lines

    def _one_line(self, job: BatchJob, raw: bytes) -> tuple[dict[str, Any], bool]:
        try:
            obj = strict_json_loads(raw)  # a bare NaN is not JSON to the service either
        except ValueError as exc:
            text = raw.decode("utf-8", "replace")[:1000]
            return build_batch_output_line("", text, error=row_status(400, f"the line is not JSON: {exc}")), False
        key = obj.get("key", "") if isinstance(obj, dict) else ""
        request_json = obj.get("request") if isinstance(obj, dict) else obj
        limits = job.spec.model.limits
        try:
            key, request = parse_batch_input_line(obj, limits)
            request = self._media.resolve(request, limits)
            tokens, _ = checked_usage(request, parse_embed_content_options(obj["request"]), job.spec.model)
            values = self._vectors.embed_content(with_video_span_cut(request))
        except (VertexMMError, GoogleAPIException) as exc:
            what = getattr(exc, "detail", None) or str(exc)  # an InputError without vertex-mm's advice
            if isinstance(exc, GoogleAPIException):
                error = row_status(exc.status_code, exc.message, exc.status)
            else:
                error = row_status(400, what)
            return {**build_batch_output_line(str(key), request_json, error=error), "processed_time": self._stamp()}, False
        line = build_batch_output_line(key, request_json, values.tolist(), token_count=sum(tokens.values()))
        return {**line, "status": "", "processed_time": self._stamp()}, True

    def _stamp(self) -> str:
        return rfc3339(self._clock())

    def _finish(self, job: BatchJob, out: Any) -> None:
        if self._stopping.is_set():
            job.transition(_ACTIVE, state="JOB_STATE_CANCELLED", end_time=self._clock())
            return
        stamp = rfc3339(self._clock()).replace(".000000Z", "Z")
        directory = join_gs(job.spec.output_prefix, f"prediction-model-{stamp}")
        try:
            write_object(self._media.client, join_gs(directory, "predictions.jsonl"), out)
        except Exception as exc:  # storage errors of any kind fail the job with their message
            job.transition(_ACTIVE, state="JOB_STATE_FAILED", end_time=self._clock(),
                           error=f"Failed to write the output to {directory}: {exc}")
            return
        final = "JOB_STATE_CANCELLED" if job.cancel_requested.is_set() else "JOB_STATE_SUCCEEDED"
        job.transition(_ACTIVE, state=final, end_time=self._clock(), output_directory=directory)
