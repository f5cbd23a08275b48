"""Errors of batch prediction jobs, and the per-row errors read back from a job's output.

::

    VertexMMError
    └── BatchJobError                     a batch prediction job could not be run to the end
        ├── BatchJobRefusedError          the service refused to create the job
        ├── BatchJobFailedError           the job ended FAILED or EXPIRED
        ├── BatchJobPausedError           the service paused the job (a rerun re-attaches)
        └── BatchJobStateError            OUT.job.json is unreadable or belongs to other flags

A row of the output that carries a ``status`` instead of a ``response`` becomes the
:mod:`vertex_mm.errors` error of its google.rpc code (Google's ``Bad Request: {"error": {…,
"status": "INVALID_ARGUMENT"}}``, or ``INVALID_ARGUMENT: …``, ->
:class:`~vertex_mm.errors.InvalidArgumentError`), so ``OUT.errors.jsonl`` reads the same as
for the online path.
"""

from __future__ import annotations

import json

from ..errors import APIError, VertexMMError, api_error_for_rpc_code, api_error_for_status

__all__ = ["BatchJobError", "BatchJobFailedError", "BatchJobPausedError", "BatchJobRefusedError", "BatchJobStateError",
           "row_error"]


class BatchJobError(VertexMMError):
    """Base of the errors of a batch prediction job as a whole (per-input errors are not these)."""


class BatchJobRefusedError(BatchJobError):
    """Raised when the service refuses to create a batch prediction job (its answer is in the
    message). The gemini-embedding-2 model card lists batch prediction as not supported while
    the batch page documents it; the message suggests ``--mode online``."""


class BatchJobFailedError(BatchJobError):
    """Raised when a job ends FAILED or EXPIRED, after the rows it finished were collected; the
    message carries the service's reason and the counts. The next run submits the inputs that
    never ran as a new job."""


class BatchJobPausedError(BatchJobError):
    """Raised when the service reports a job ``JOB_STATE_PAUSED``: it is not running and has not
    ended, so polling on would wait for ever (Google's own samples stop polling there too). The
    job state file is kept: the same command re-attaches to the job and waits for it again."""


class BatchJobStateError(BatchJobError):
    """Raised when the job state file cannot be read or was written for other flags."""


def row_error(key: str, status: str) -> APIError:
    """The typed error of one failed output row, from its ``status``. Google documents a failed
    Gemini batch row as ``"Bad Request: {\"error\": {\"code\": 400, \"message\": …, \"status\":
    \"INVALID_ARGUMENT\"}}"`` (an HTTP reason, then the JSON error envelope): its google.rpc
    ``status`` is used, else its HTTP ``code``, so a 429 or 5xx row stays retryable. The shorter
    ``"INVALID_ARGUMENT: …"`` is read too. An unknown or missing code gives a plain,
    non-retryable :class:`APIError`."""
    head, _, rest = status.partition(":")
    envelope = _error_envelope(rest)
    if envelope is not None:
        rpc, http, message = envelope
        cls = api_error_for_rpc_code(rpc) if rpc else None
        if cls is None and http:
            cls = api_error_for_status(http)
        if cls is not None:
            said = f"{rpc or http} {message}" if message else status
            return cls(f"{key}: the batch job reported {said}", status=rpc or None, status_code=http or None)
    code = head.strip().upper()
    cls = api_error_for_rpc_code(code)
    return (cls or APIError)(f"{key}: the batch job reported {status}", status=code if cls else None)


def _error_envelope(text: str) -> tuple[str, int, str] | None:
    """``(rpc status, HTTP code, message)`` of a JSON ``{"error": {...}}`` envelope; None when
    ``text`` is not one."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    error = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(error, dict):
        return None
    rpc = error.get("status")
    code = error.get("code")
    message = error.get("message")
    return (rpc.strip().upper() if isinstance(rpc, str) else "",
            code if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 else 0,
            message if isinstance(message, str) else "")
