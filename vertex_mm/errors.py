"""The one exception tree of vertex-mm.

Callers catch :class:`VertexMMError` and look at the typed subclasses::

    VertexMMError
    ├── InputError (ValueError)              bad input, raised before any network call
    │   ├── InvalidDimensionError
    │   ├── InvalidImageError
    │   │   └── ImageTooLargeError
    │   ├── InvalidVideoError
    │   │   └── VideoTooLargeError
    │   ├── InvalidDocumentError            a PDF that cannot be read, or has too many pages
    │   ├── InvalidAudioError
    │   ├── InvalidContentError             a content breaks a per-content limit (parts, size)
    │   ├── InvalidTextError
    │   ├── InvalidURIError                 a malformed gs:// URI, or an http(s) URL (not fetched)
    │   ├── UnreadableInputError (OSError)  a local file that cannot be read
    │   │   ├── InputNotFoundError (FileNotFoundError)
    │   │   └── InputIsADirectoryError (IsADirectoryError)
    │   └── UnsupportedInputError           this backend has no model for this kind of input
    ├── APIError                            the service answered with an error status
    │   ├── InvalidArgumentError            400 INVALID_ARGUMENT / FAILED_PRECONDITION
    │   ├── UnauthenticatedError            401
    │   ├── PermissionDeniedError           403
    │   ├── NotFoundError                   404
    │   ├── QuotaExceededError              429 RESOURCE_EXHAUSTED        (retryable)
    │   ├── InternalServerError             500 and other 5xx (not 501/505: plain APIError) (retryable)
    │   ├── ServiceUnavailableError         503                           (retryable)
    │   └── DeadlineExceededError           504, 408                      (retryable)
    ├── TransportError                      no answer: connection reset, refused, timed out (retryable)
    ├── MissingDependencyError (ImportError) an optional extra is not installed
    ├── WeightsNotFoundError (FileNotFoundError) local model files are missing
    ├── EmbeddingSpaceMismatchError         vectors from two embedding spaces were mixed
    ├── BackendError                        the backend failed on an input for no fault of the input
    ├── BatchError                          some inputs of a batch failed (carries every result)
    └── NotRunError                         the batch stopped before this input ran (retryable)

Errors that belong to one subsystem live beside it and join this tree: the index errors
(``vertex_mm.index``: ``IndexCorruptedError``, ``IndexVersionError``, ``InvalidFilterError``, ...),
batch-job errors (``vertex_mm.jobs.batch_errors``), ``JournalLockedError``
(``vertex_mm.jobs.journal_lock``) and the adapters' ``FailedInputsError`` (``vertex_mm.integrations``).
:class:`DeviceFallbackWarning` is a warning, not an error: a GPU was asked for, the CPU is used.
:class:`EmulatedBfloat16Warning` and :class:`EmulatedFloat16Warning` (both :class:`EmulatedPrecisionWarning`) too:
a 16-bit dtype was asked for on a CPU that only emulates it.

Every error says which input broke which limit. ``retryable`` tells the batch engine whether
another attempt can succeed; it is a class attribute so that policy lives with the type.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "BackendError",
    "BatchError",
    "CacheUnavailableWarning",
    "DeadlineExceededError",
    "DeviceFallbackWarning",
    "EmbeddingSpaceMismatchError",
    "EmulatedBfloat16Warning",
    "EmulatedFloat16Warning",
    "EmulatedPrecisionWarning",
    "ImageTooLargeError",
    "InputError",
    "InputIsADirectoryError",
    "InputNotFoundError",
    "InternalServerError",
    "InvalidArgumentError",
    "InvalidAudioError",
    "InvalidContentError",
    "InvalidDimensionError",
    "InvalidDocumentError",
    "InvalidImageError",
    "InvalidTextError",
    "InvalidURIError",
    "InvalidVideoError",
    "MissingDependencyError",
    "NotRunError",
    "OutputPathError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "ServiceUnavailableError",
    "TransportError",
    "UnauthenticatedError",
    "UnreadableInputError",
    "UnsupportedInputError",
    "VertexMMError",
    "VideoTooLargeError",
    "WeightsNotFoundError",
    "api_error_for_rpc_code",
    "api_error_for_status",
]


class VertexMMError(Exception):
    """Base class of every error vertex-mm raises on purpose."""

    retryable: bool = False


class InputError(VertexMMError, ValueError):
    """Raised when an input breaks a documented limit; nothing was sent.

    ``detail`` is what broke (what the service itself would answer); ``hint``, when there is
    one, is vertex-mm's advice, appended to the message (the emulator answers ``detail`` only).
    """

    def __init__(self, message: str, *, input_name: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{message}. {hint}" if hint else message)
        self.input_name = input_name
        self.detail = message
        self.hint = hint


class InvalidDimensionError(InputError):
    """Raised when ``dimension`` is not one the model offers."""


class InvalidImageError(InputError):
    """Raised when image bytes are empty, undecodable or of an unsupported format."""


class ImageTooLargeError(InvalidImageError):
    """Raised when an image exceeds the byte or pixel limit."""


class InvalidVideoError(InputError):
    """Raised when video bytes are empty, of an unsupported container, or the segment config is bad."""


class VideoTooLargeError(InvalidVideoError):
    """Raised when inline video bytes exceed the request size limit."""


class InvalidDocumentError(InputError):
    """Raised when a document (PDF) is empty, not a PDF, cannot be opened, or has more pages
    than the model reads."""


class InvalidAudioError(InputError):
    """Raised when audio bytes are empty, of an unsupported format, undecodable or too long."""


class InvalidContentError(InputError):
    """Raised when a content (the ordered parts embedded into one vector) breaks a limit of
    the whole content: too many images, more than one PDF, video or audio, too many bytes."""


class InvalidTextError(InputError):
    """Raised when text is empty, not a string, or cannot be encoded (a lone surrogate)."""


class InvalidURIError(InputError):
    """Raised when a ``gs://`` URI is malformed."""


class UnreadableInputError(InputError, OSError):
    """Raised when a local input file cannot be read (permissions, a loop of symbolic links, a
    name too long, a NUL byte); also an ``OSError``, so ``except OSError`` code keeps working."""

    def __init__(self, message: str, *, input_name: str | None = None) -> None:
        InputError.__init__(self, message, input_name=input_name)


class InputNotFoundError(UnreadableInputError, FileNotFoundError):
    """Raised when a local input file does not exist (also a ``FileNotFoundError``)."""


class InputIsADirectoryError(UnreadableInputError, IsADirectoryError):
    """Raised when a local input path is a folder, not a file (also an ``IsADirectoryError``)."""


class OutputPathError(InputError, FileExistsError):
    """Raised when the place to write an index or an export is taken by something vertex-mm
    will not replace: a file, or a folder holding other files (also a ``FileExistsError``)."""


class UnsupportedInputError(InputError):
    """Raised when a backend has no model for a kind of input (e.g. audio offline, a PDF for
    multimodalembedding@001); the message names the backend that has one."""


class APIError(VertexMMError):
    """Raised when the service answers with an error status.

    Carries Google's error envelope: ``status_code`` (HTTP), ``status`` (e.g.
    ``RESOURCE_EXHAUSTED``), ``message``, and ``retry_after`` seconds when the server sent one.
    """

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        status: str | None = None,
        retry_after: float | None = None,
        request: Any = None,
    ) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.request = request


class InvalidArgumentError(APIError):
    """Raised on HTTP 400: the service rejected the request; retrying cannot help."""

    status_code = 400


class UnauthenticatedError(APIError):
    """Raised on HTTP 401: no or expired credentials."""

    status_code = 401


class PermissionDeniedError(APIError):
    """Raised on HTTP 403: the credentials may not call this model or project."""

    status_code = 403


class NotFoundError(APIError):
    """Raised on HTTP 404: unknown model, project or location."""

    status_code = 404


class QuotaExceededError(APIError):
    """Raised on HTTP 429 RESOURCE_EXHAUSTED: over the per-minute quota."""

    status_code = 429
    retryable = True


class InternalServerError(APIError):
    """Raised on HTTP 500."""

    status_code = 500
    retryable = True


class ServiceUnavailableError(APIError):
    """Raised on HTTP 503."""

    status_code = 503
    retryable = True


class DeadlineExceededError(APIError):
    """Raised on HTTP 504 or a client-side deadline."""

    status_code = 504
    retryable = True


class TransportError(VertexMMError):
    """Raised when no answer arrived: connection refused or reset, DNS failure, read timeout."""

    retryable = True


class MissingDependencyError(VertexMMError, ImportError):
    """Raised when an optional extra is needed but not installed; the message names the extra."""


class WeightsNotFoundError(VertexMMError, FileNotFoundError):
    """Raised when local model files are missing; the message says where they were looked for
    and how to get them."""


class EmbeddingSpaceMismatchError(VertexMMError, ValueError):
    """Raised when vectors of two embedding spaces meet (an index insert or a query)."""


class BackendError(VertexMMError):
    """Raised (as one input's result) when the backend failed on that input with an error that
    is not about the input: a bug or a model failure. The original exception is its
    ``__cause__``; the rest of the batch goes on."""

    @classmethod
    def wrap(cls, exc: BaseException, where: str = "") -> "BackendError":
        error = cls(f"{where + ': ' if where else ''}the backend failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error


class BatchError(VertexMMError):
    """Raised by a batch call with ``errors="raise"`` after every input was tried.

    Nothing is lost: ``result`` holds the vectors of the inputs that succeeded (failed rows are
    NaN), and ``errors`` maps input index to that input's typed error.
    """

    def __init__(self, message: str, *, result: Any = None, errors: dict[int, VertexMMError] | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.errors = errors or {}


class NotRunError(VertexMMError):
    """The result of an input that had not finished when the batch was stopped.

    Retryable: running the batch again (or resuming the job) will try it.
    """

    retryable = True


_BY_STATUS: dict[int, type[APIError]] = {
    cls.status_code: cls
    for cls in (
        InvalidArgumentError,
        UnauthenticatedError,
        PermissionDeniedError,
        NotFoundError,
        QuotaExceededError,
        InternalServerError,
        ServiceUnavailableError,
        DeadlineExceededError,
    )
}


# google.rpc.Code names -> HTTP status, as google/rpc/code.proto maps them (only the codes that
# have a class of their own; any other name gives a plain APIError).
_HTTP_STATUS_OF_RPC_CODE: dict[str, int] = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "RESOURCE_EXHAUSTED": 429, "INTERNAL": 500,
    "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
}


def api_error_for_rpc_code(code: str) -> type[APIError] | None:
    """The :class:`APIError` subclass for a google.rpc code name (``"RESOURCE_EXHAUSTED"``), or
    None for a name without one of its own."""
    status = _HTTP_STATUS_OF_RPC_CODE.get(code.strip().upper())
    return None if status is None else _BY_STATUS[status]


def api_error_for_status(status_code: int) -> type[APIError]:
    """The most specific :class:`APIError` subclass for an HTTP status code."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code == 409 or status_code == 412:
        return InvalidArgumentError
    if status_code == 408:  # Request Timeout: the server gave up waiting; sending again may succeed
        return DeadlineExceededError
    if status_code in (501, 505):  # Not Implemented / HTTP Version Not Supported: the same request fails again
        return APIError
    if status_code >= 500:
        return InternalServerError
    return APIError


class CacheUnavailableWarning(UserWarning):
    """Warned (not raised), once per cache, when the embedding cache cannot be read or written
    (a locked, read-only, full or damaged file): the batch goes on without it, and vectors the
    service returned are still returned."""


class DeviceFallbackWarning(UserWarning):
    """Warned (not raised) when a GPU was asked for but torch sees none, and the CPU is used."""


class EmulatedPrecisionWarning(UserWarning):
    """Warned (not raised) when a local model is asked for a 16-bit ``dtype`` the CPU only
    emulates: the vectors are right, the speed is not. ``dtype="auto"`` picks the fast one.
    Filter this class to silence (or raise) both kinds below."""


class EmulatedBfloat16Warning(EmulatedPrecisionWarning):
    """``dtype="bfloat16"`` on a CPU without native bfloat16 (AVX512-BF16 or AMX): torch emulates
    it there, many times slower than float32 (EfficientNet-Lite0: 7.1 against 76.5 images/s on an
    AVX2 EPYC)."""


class EmulatedFloat16Warning(EmulatedPrecisionWarning):
    """``dtype="float16"`` on a CPU without native float16 (AVX512-FP16 or AMX-FP16, which only
    recent Intel server CPUs have): torch emulates it, a float16 matmul ~60x slower than float32
    on an AVX2 EPYC."""
