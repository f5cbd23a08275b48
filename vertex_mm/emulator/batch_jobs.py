"""Batch prediction jobs of the emulator: the job resource and the in-memory job store.

A job is created from the documented body ("Get batch embeddings inferences")::

    {"displayName": str, "model": "publishers/google/models/gemini-embedding-2",
     "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://…"]}},
     "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://…"}}}

and is shown as a ``BatchPredictionJob`` in proto JSON: ``name``
(``projects/P/locations/L/batchPredictionJobs/ID``, ID all digits as the SDK expects),
one input file per job (as documented for Gemini models; its size is bounded by the emulator's
``max_gcs_object_bytes``, the job FAILED beyond it),
``state``, RFC 3339 times, ``completionStats`` (int64 counts as strings),
``outputInfo.gcsOutputDirectory`` and ``error``. States go PENDING -> RUNNING -> SUCCEEDED, or
FAILED (the input cannot be read), or CANCELLING -> CANCELLED. The work itself is done by
:mod:`.batch_runner`; this module only keeps the records.
"""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import GoogleAPIException
from .models import PublisherModel, find_model

__all__ = ["TERMINAL_STATES", "BatchJob", "BatchJobStore", "JobSpec", "parse_job_spec"]

TERMINAL_STATES = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                             "JOB_STATE_PARTIALLY_SUCCEEDED"})
#: Job ids start here and count up: digits only, like the service's (the SDK checks).
_FIRST_ID = 7_000_000_000_000_000_001


def rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class JobSpec:
    """What a create call asks for, validated."""

    display_name: str
    model: PublisherModel
    model_name: str
    input_uris: tuple[str, ...]
    output_prefix: str


def _bad(message: str) -> GoogleAPIException:
    return GoogleAPIException(400, message)


def _obj(body: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = body.get(key)
    if not isinstance(value, Mapping):
        raise _bad(f"{where}{key} is required and must be an object.")
    return value


def _gs(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("gs://") or len(value) <= len("gs://"):
        raise _bad(f"{where} must be a gs:// URI, got {value!r}.")
    return value


def parse_job_spec(body: Any, parent: str) -> JobSpec:
    """A create body into a :class:`JobSpec`; 400 (404 for an unknown model) naming the field."""
    if not isinstance(body, Mapping):
        raise _bad("Invalid JSON payload received: the request body must be a BatchPredictionJob object.")
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise _bad("BatchPredictionJob.displayName is required.")
    model_name = body.get("model")
    if not isinstance(model_name, str) or "/models/" not in model_name:
        raise _bad(f"BatchPredictionJob.model must name a publisher model (publishers/google/models/MODEL), "
                   f"got {model_name!r}.")
    model = find_model(model_name.rsplit("/", 1)[-1], path=model_name)
    if model.method != "embedContent":
        raise _bad(f"The vertex-mm emulator runs batch prediction jobs for gemini-embedding-2 only, not {model.model_id}.")
    inp = _obj(body, "inputConfig", "")
    if "bigquerySource" in inp:
        raise _bad("BigQuery tables are not supported for Gemini embedding models; use JSONL files in Cloud Storage.")
    if inp.get("instancesFormat") != "jsonl":
        raise _bad(f"inputConfig.instancesFormat must be \"jsonl\", got {inp.get('instancesFormat')!r}.")
    uris = _obj(inp, "gcsSource", "inputConfig.").get("uris")
    if not isinstance(uris, list) or not uris:
        raise _bad("inputConfig.gcsSource.uris must be a non-empty list of gs:// URIs.")
    if len(uris) > 1:
        # "Batch inference for Gemini models accepts one JSON Lines (JSONL) file stored in Cloud
        # Storage as input data" ("Batch inference from Cloud Storage"): refused here, so tests
        # catch a client that splits one job's input over several files.
        raise _bad(f"inputConfig.gcsSource.uris has {len(uris)} files; batch inference for Gemini models "
                   "accepts one JSONL file as input.")
    out = _obj(body, "outputConfig", "")
    if "bigqueryDestination" in out:
        raise _bad("BigQuery tables are not supported for Gemini embedding models; use a gs:// outputUriPrefix.")
    if out.get("predictionsFormat") != "jsonl":
        raise _bad(f"outputConfig.predictionsFormat must be \"jsonl\", got {out.get('predictionsFormat')!r}.")
    prefix = _gs(_obj(out, "gcsDestination", "outputConfig.").get("outputUriPrefix"),
                 "outputConfig.gcsDestination.outputUriPrefix")
    inputs = tuple(_gs(u, f"inputConfig.gcsSource.uris[{i}]") for i, u in enumerate(uris))
    return JobSpec(name, model, model_name, inputs, prefix)


@dataclass
class BatchJob:
    """One job. The runner thread changes it through :meth:`update`; readers take
    :meth:`resource`, a consistent snapshot."""

    id: str
    parent: str
    spec: JobSpec
    create_time: float
    state: str = "JOB_STATE_PENDING"
    start_time: float | None = None
    end_time: float | None = None
    update_time: float = 0.0
    successful: int = 0
    failed: int = 0
    total: int | None = None
    output_directory: str | None = None
    error: str | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return f"{self.parent}/batchPredictionJobs/{self.id}"

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    def update(self, **changes: Any) -> None:
        with self._lock:
            self._set(changes)

    def transition(self, expected: frozenset[str], **changes: Any) -> bool:
        """Apply ``changes`` only if the state is one of ``expected`` (one atomic step, so a
        cancel and the runner never overwrite each other's state)."""
        with self._lock:
            if self.state not in expected:
                return False
            self._set(changes)
            return True

    def _set(self, changes: Mapping[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self.update_time = time.time()

    def resource(self) -> dict[str, Any]:
        with self._lock:
            spec = self.spec
            out: dict[str, Any] = {
                "name": self.name,
                "displayName": spec.display_name,
                "model": spec.model_name,
                "modelVersionId": "1",
                "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": list(spec.input_uris)}},
                "outputConfig": {"predictionsFormat": "jsonl",
                                 "gcsDestination": {"outputUriPrefix": spec.output_prefix}},
                "state": self.state,
                "createTime": rfc3339(self.create_time),
                "updateTime": rfc3339(self.update_time or self.create_time),
            }
            if self.start_time is not None:
                out["startTime"] = rfc3339(self.start_time)
            if self.end_time is not None:
                out["endTime"] = rfc3339(self.end_time)
            if self.total is not None or self.successful or self.failed:
                incomplete = (self.total - self.successful - self.failed) if self.total is not None else -1
                # int64 in proto JSON: strings.
                out["completionStats"] = {"successfulCount": str(self.successful), "failedCount": str(self.failed),
                                          "incompleteCount": str(incomplete)}
            if self.output_directory is not None:
                out["outputInfo"] = {"gcsOutputDirectory": self.output_directory}
            if self.error is not None:
                out["error"] = {"code": 3, "message": self.error}  # google.rpc.Code INVALID_ARGUMENT
            return out


def _parse_filter(text: str) -> Callable[[BatchJob], bool]:
    """The filters the emulator understands: ``display_name="x"`` and ``state=JOB_STATE_X``,
    joined with AND (the service's filter language, AIP-160, is much larger)."""
    tests: list[Callable[[BatchJob], bool]] = []
    for clause in (c.strip() for c in text.replace(" and ", " AND ").split(" AND ")):
        if not clause:
            continue
        key, sep, raw = clause.partition("=")
        value = raw.strip().strip('"')
        key = key.strip().rstrip(":")
        if not sep or key not in ("display_name", "displayName", "state"):
            raise _bad(f"Unsupported filter {clause!r}: the vertex-mm emulator filters on display_name=\"…\" "
                       "and state=JOB_STATE_…")
        tests.append(_field_equals("state" if key == "state" else "display_name", value))
    return lambda job: all(t(job) for t in tests)


def _field_equals(key: str, value: str) -> Callable[[BatchJob], bool]:
    def test(job: BatchJob) -> bool:
        return (job.state if key == "state" else job.spec.display_name) == value

    return test


class BatchJobStore:
    """The jobs of one emulator, by id. ``start(job)`` is called once per created job."""

    def __init__(self, start: Callable[[BatchJob], None], *, clock: Callable[[], float] = time.time) -> None:
        self._start = start
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, BatchJob] = {}
        self._ids = itertools.count(_FIRST_ID)
        #: Create calls that made a job (tests check that a resumed client did not create twice).
        self.created = 0

    def create(self, parent: str, spec: JobSpec) -> BatchJob:
        with self._lock:
            job = BatchJob(str(next(self._ids)), parent, spec, create_time=self._clock())
            self._jobs[job.id] = job
            self.created += 1
        self._start(job)
        return job

    def get(self, parent: str, job_id: str) -> BatchJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.parent != parent:
            raise GoogleAPIException(404, f"The BatchPredictionJob {parent}/batchPredictionJobs/{job_id} does not exist.")
        return job

    def jobs(self) -> list[BatchJob]:
        """Every job, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def list(self, parent: str, *, page_size: int, page_token: str = "", filter: str = "") -> tuple[list[BatchJob], str]:
        """One page of ``parent``'s jobs, newest first, and the next page token ("" at the end)."""
        if page_size <= 0:
            page_size = 100
        try:
            start = int(page_token) if page_token else 0
        except ValueError:
            raise _bad(f"Invalid page token {page_token!r}.") from None
        keep = _parse_filter(filter)
        matching = [j for j in reversed(self.jobs()) if j.parent == parent and keep(j)]
        page = matching[start:start + min(page_size, 1000)]
        end = start + len(page)
        return page, (str(end) if end < len(matching) else "")

    def cancel(self, parent: str, job_id: str) -> BatchJob:
        """Ask the job to stop; a job that has not started is cancelled at once. Cancelling a
        finished job is refused (400 FAILED_PRECONDITION), as by the service."""
        job = self.get(parent, job_id)
        job.cancel_requested.set()
        if job.transition(frozenset({"JOB_STATE_PENDING"}), state="JOB_STATE_CANCELLED", end_time=self._clock()):
            return job
        # A running job stops after its current line (the runner then sets CANCELLED).
        if job.transition(frozenset({"JOB_STATE_RUNNING", "JOB_STATE_CANCELLING"}), state="JOB_STATE_CANCELLING"):
            return job
        raise GoogleAPIException(400, f"Cannot cancel {job.name}: the job is already in state {job.state}.",
                                 status="FAILED_PRECONDITION")

    def delete(self, parent: str, job_id: str) -> BatchJob:
        job = self.get(parent, job_id)
        if not job.done:
            raise GoogleAPIException(400, f"Cannot delete {job.name} in state {job.state}: cancel it first.",
                                     status="FAILED_PRECONDITION")
        with self._lock:
            self._jobs.pop(job.id, None)
        return job
