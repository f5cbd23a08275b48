"""Errors of batch prediction jobs, and the per-row errors read back from a job's output.

::

    VertexMMError
    └── BatchJobError                     a batch prediction job could not be run to the end
        ├── BatchJobRefusedError          the service refused to create the job
        ├── BatchJobFailedError           the job ended FAILED or EXPIRED
        ├── BatchJobPausedError           the service paused the job (a rerun re-attaches)
        └── BatchJobStateError            OUT.job.json is unreadable or belongs to other flags

A row of the output that carries a ``status`` instead of a ``response`` becomes the
:mod:`vertex_mm.errors` error of its google.rpc code (``INVALID_ARGUMENT: …`` ->
:class:`~vertex_mm.errors.InvalidArgumentError`), so ``OUT.errors.jsonl`` reads the same as
for the online path.
"""

from __future__ import annotations

from ..errors import APIError, VertexMMError, api_error_for_rpc_code

__all__ = ["BatchJobError", "BatchJobFailedError", "BatchJobPausedError", "BatchJobRefusedError", "BatchJobStateError",
           "row_error"]


class BatchJobError(VertexMMError):
    """Base of the errors of a batch prediction job as a whole (per-input errors are not these)."""


class BatchJobRefusedError(BatchJobError):
    """Raised when the service refuses to create a batch prediction job (its answer is in the
    message). The gemini-embedding-2 model card lists batch prediction as not supported while
    the batch page documents it; the message suggests ``--mode online``."""


class BatchJobFailedError(BatchJobError):
    """Raised when a job ends FAILED or EXPIRED; the message carries the service's reason. The
    next run submits a new job."""


class BatchJobPausedError(BatchJobError):
    """Raised when the service reports a job ``JOB_STATE_PAUSED``: it is not running and has not
    ended, so polling on would wait for ever (Google's own samples stop polling there too). The
    job state file is kept: the same command re-attaches to the job and waits for it again."""


class BatchJobStateError(BatchJobError):
    """Raised when the job state file cannot be read or was written for other flags."""


def row_error(key: str, status: str) -> APIError:
    """The typed error of one failed output row (its ``status``, e.g. ``"INVALID_ARGUMENT: …"``;
    an unknown or missing code gives a plain, non-retryable :class:`APIError`)."""
    code = status.split(":", 1)[0].strip().upper()
    cls = api_error_for_rpc_code(code)
    return (cls or APIError)(f"{key}: the batch job reported {status}", status=code if cls else None)
