"""The calls a batch prediction job makes on google-genai's ``client.batches`` (Vertex AI
``batchPredictionJobs``), with errors translated and the SDK's job turned into a small value.

google-genai maps ``client.batches.create(model, src=[gs://…], config={dest, display_name})``
to ``POST …/batchPredictionJobs`` with ``inputConfig.gcsSource.uris`` and
``outputConfig.gcsDestination.outputUriPrefix``; ``get``, ``list`` (with ``filter``) and
``cancel`` follow. Retryable errors (429, 5xx, no answer) are retried here; a create that
failed that way may still have made the job, so the job is looked up by its display name
before trying again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import APIError, VertexMMError
from ..google_api import translate_error
from .batch_errors import BatchJobRefusedError

__all__ = ["ENDED_STATES", "FAILED_STATES", "OUTAGE_PATIENCE", "PAUSED_STATE", "BatchJobs", "JobInfo"]

#: google-genai's JOB_STATES_ENDED_VERTEX, plus PARTIALLY_SUCCEEDED (terminal too).
ENDED_STATES = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                          "JOB_STATE_PARTIALLY_SUCCEEDED"})
#: Neither running nor ended: the service paused the job; polling stops (the run can re-attach).
PAUSED_STATE = "JOB_STATE_PAUSED"
#: Ended by the service before the end: what the job finished is collected, the rest is run
#: again by the next run (never re-attached to: ``find`` skips these).
FAILED_STATES = frozenset({"JOB_STATE_FAILED", "JOB_STATE_EXPIRED"})

#: Seconds of retryable errors (503, 429, no answer) while following a job before the client
#: gives up (the job runs on; the same command re-attaches), and the longest wait between tries.
OUTAGE_PATIENCE = 30 * 60.0
_MAX_OUTAGE_WAIT = 300.0

_REFUSED_HINT = ("The gemini-embedding-2 model card lists batch prediction as not supported (the batch "
                 "prediction page documents it); use the online path instead (vertex-mm embed --mode online).")
#: Words of a refusal saying the model takes no batch jobs, where the hint above applies (a
#: refusal for a bucket, its region or a permission is the service's message alone).
_MODEL_REFUSAL_WORDS = ("not supported", "unsupported", "does not support")


@dataclass(frozen=True)
class JobInfo:
    """What the client needs of a ``BatchPredictionJob``."""

    name: str
    state: str
    display_name: str = ""
    inputs: tuple[str, ...] = ()
    successful: int = 0
    failed: int = 0
    incomplete: int = 0
    output_directory: str | None = None
    error: str | None = None

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


def job_info(job: Any) -> JobInfo:
    """A google-genai ``BatchJob`` as a :class:`JobInfo`."""
    state = getattr(job.state, "value", job.state) or "JOB_STATE_UNSPECIFIED"
    stats = job.completion_stats
    src = job.src
    return JobInfo(
        name=job.name or "",
        state=str(state),
        display_name=job.display_name or "",
        inputs=tuple(getattr(src, "gcs_uri", None) or ()),
        successful=int(getattr(stats, "successful_count", 0) or 0),
        failed=int(getattr(stats, "failed_count", 0) or 0),
        incomplete=int(getattr(stats, "incomplete_count", 0) or 0),
        output_directory=getattr(job.output_info, "gcs_output_directory", None),
        error=getattr(job.error, "message", None) or (str(job.error) if job.error else None),
    )


def _translated(exc: Exception) -> VertexMMError:
    mapped = translate_error(exc)
    if mapped is None:
        raise exc
    return mapped


class BatchJobs:
    """``client.batches`` for one model, with ``retries`` attempts on retryable errors."""

    def __init__(self, client: Any, model: str, *, retries: int = 5, sleep: Callable[[float], None] = time.sleep) -> None:
        self._batches = client.batches
        self.model = model
        self.retries = retries
        self._sleep = sleep

    def _call(self, fn: Callable[[], Any]) -> Any:
        for attempt in range(self.retries):
            try:
                return fn()
            except Exception as exc:
                error = _translated(exc)
                if not error.retryable or attempt == self.retries - 1:
                    raise error from exc
                wait = getattr(error, "retry_after", None) or min(30.0, 2.0 ** attempt)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, name: str) -> JobInfo:
        return job_info(self._call(lambda: self._batches.get(name=name)))

    def get_patiently(self, name: str, interval: float) -> JobInfo:
        """:meth:`get`, asked again through retryable errors for up to :data:`OUTAGE_PATIENCE`
        seconds (waits growing from ``interval`` to :data:`_MAX_OUTAGE_WAIT`): a job runs for
        hours, and an API outage of a minute must not end the client following it."""
        waited = 0.0
        for attempt in itertools.count():
            try:
                return self.get(name)
            except VertexMMError as exc:
                if not exc.retryable or waited >= OUTAGE_PATIENCE:
                    raise
                wait = min(max(interval, min(_MAX_OUTAGE_WAIT, interval * 2.0 ** attempt)), OUTAGE_PATIENCE - waited)
                self._sleep(wait)
                waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def find(self, display_name: str, inputs: list[str]) -> JobInfo | None:
        """The newest job of this display name and input that has not failed, if any."""
        def search() -> list[Any]:
            return list(self._batches.list(config={"filter": f'display_name="{display_name}"', "page_size": 100}))

        for job in map(job_info, self._call(search)):
            # Checked here too: a service may ignore an unknown filter and list everything.
            if job.display_name == display_name and list(job.inputs) == inputs and job.state not in FAILED_STATES:
                return job
        return None

    def create(self, *, display_name: str, inputs: list[str], output_prefix: str) -> JobInfo:
        """Create the job, or find the one an earlier attempt created. A refusal (4xx) raises
        :class:`BatchJobRefusedError` with the service's message."""
        from google.genai import types

        config = types.CreateBatchJobConfig(dest=output_prefix, display_name=display_name)
        src = types.BatchJobSource(format="jsonl", gcs_uri=inputs)
        for attempt in range(self.retries):
            try:
                return job_info(self._batches.create(model=self.model, src=src, config=config))
            except Exception as exc:
                error = _translated(exc)
                if isinstance(error, APIError) and not error.retryable:
                    about_model = any(w in str(error).lower() for w in _MODEL_REFUSAL_WORDS)
                    said = str(error).rstrip(". ")
                    raise BatchJobRefusedError(f"the service refused to create the batch prediction job for "
                                               f"{self.model}: {said}." + (f" {_REFUSED_HINT}" if about_model else "")
                                               ) from exc
                if not error.retryable or attempt == self.retries - 1:
                    raise error from exc
                self._sleep(getattr(error, "retry_after", None) or min(30.0, 2.0 ** attempt))
                found = self.find(display_name, inputs)
                if found is not None:
                    return found
        raise AssertionError("unreachable")  # pragma: no cover
