"""The drop-in's errors: each one is an instance of BOTH the ``google.api_core.exceptions``
class that ``vertexai.vision_models`` raises for that case AND vertex-mm's own typed error, so
``except google.api_core.exceptions.ServiceUnavailable``, ``except ValueError`` (where ours is
one) and ``except vertex_mm.errors.ServiceUnavailableError`` all keep working.

Which Google class:

- the error came from Google's client (the vertex backend runs the same gapic client as the SDK):
  that exception's own class (``BadRequest`` over REST, ``InvalidArgument`` over gRPC, a
  ``google.auth`` ``DefaultCredentialsError``...), with its ``errors``, ``details`` and ``response``;
- a status answered some other way (the gemini backend's google-genai): the gRPC-named class of
  the status, a subclass of the HTTP-named one (``ResourceExhausted`` is a ``TooManyRequests``,
  ``InvalidArgument`` a ``BadRequest``, ``DeadlineExceeded`` a ``GatewayTimeout``);
- a check made before sending that the service answers with 400 (dimension, segment config,
  undecodable image or video, a malformed gs:// URI): ``InvalidArgument``;
- no answer at all (:class:`~vertex_mm.errors.TransportError`): ``ServiceUnavailable``, what the
  SDK's default gRPC transport raises when it cannot connect.

Left as they are, since the SDK raises the same builtin for them before sending: an unreadable or
missing local file (``OSError`` / ``FileNotFoundError``), "nothing to embed" (``ValueError``), a
missing extra (``ImportError``). Without google-api-core (it comes with the ``vertex`` extra)
every error is raised unchanged. The combined classes are made once per pair and kept (and come
back when unpickled); ``str()`` is vertex-mm's message, ``.message``, ``.code`` (HTTP),
``.errors``, ``.details`` and ``.response`` are set as ``GoogleAPICallError`` users read them.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

from ..errors import (
    APIError,
    DeadlineExceededError,
    InputError,
    OutputPathError,
    TransportError,
    UnreadableInputError,
    VertexMMError,
)

__all__ = ["as_sdk_error", "sdk_error_class"]

#: Errors the SDK raises as builtins itself, before any request (see the module docstring).
_CLIENT_SIDE = (UnreadableInputError, OutputPathError)
_NOTHING_TO_EMBED = "One of `image`, `video`, or `contextual_text` is required."

#: google.rpc code names -> google.api_core.exceptions class names (the gRPC-named ones).
_BY_RPC_CODE = {
    "INVALID_ARGUMENT": "InvalidArgument", "FAILED_PRECONDITION": "FailedPrecondition", "OUT_OF_RANGE": "OutOfRange",
    "UNAUTHENTICATED": "Unauthenticated", "PERMISSION_DENIED": "PermissionDenied", "NOT_FOUND": "NotFound",
    "RESOURCE_EXHAUSTED": "ResourceExhausted", "INTERNAL": "InternalServerError", "UNAVAILABLE": "ServiceUnavailable",
    "DEADLINE_EXCEEDED": "DeadlineExceeded", "ABORTED": "Aborted", "CANCELLED": "Cancelled",
    "ALREADY_EXISTS": "AlreadyExists", "UNIMPLEMENTED": "MethodNotImplemented", "DATA_LOSS": "DataLoss",
    "UNKNOWN": "Unknown",
}
_BY_HTTP_STATUS = {400: "InvalidArgument", 401: "Unauthenticated", 403: "PermissionDenied", 404: "NotFound",
                   429: "ResourceExhausted", 500: "InternalServerError", 503: "ServiceUnavailable",
                   504: "DeadlineExceeded"}


def _str(self: BaseException) -> str:
    return Exception.__str__(self)  # vertex-mm's message, not GoogleAPICallError's "503 ..."


def sdk_error_class(ours: type[VertexMMError], google: type[BaseException]) -> type[VertexMMError]:
    """The class that is both ``ours`` and ``google``, made once per pair."""
    with _LOCK:
        made = _BY_PAIR.get((ours, google))
        if made is None:
            name = f"{ours.__name__}_{google.__name__}"
            doc = f"{ours.__name__} that is also {google.__module__}.{google.__name__}."
            made = type(name, (ours, google), {"__str__": _str, "__module__": __name__, "__doc__": doc})
            _BY_PAIR[(ours, google)] = _MADE[name] = made
    return made


_BY_PAIR: dict[tuple[type, type], type[VertexMMError]] = {}
_MADE: dict[str, type] = {}
_LOCK = threading.Lock()


def __getattr__(name: str) -> type:
    """A combined class by name, made again in a fresh process: pickled errors come back."""
    if name.startswith("_"):  # __path__ and other dunders: never import google.api_core for them
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in _MADE:
        return _MADE[name]
    ours_name, _, google_name = name.partition("_")
    from .. import errors

    ours = getattr(errors, ours_name, None)
    for module in ("google.api_core.exceptions", "google.auth.exceptions"):
        google = getattr(__import__(module, fromlist=["_"]), google_name, None)
        if isinstance(ours, type) and issubclass(ours, VertexMMError) and isinstance(google, type):
            return sdk_error_class(ours, google)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _google_class(exc: VertexMMError, gexc: Any) -> type[BaseException] | None:
    cause = exc.__cause__
    if isinstance(cause, gexc.GoogleAPICallError):
        return type(cause)
    auth = sys.modules.get("google.auth.exceptions")
    if auth is not None and isinstance(cause, auth.GoogleAuthError):
        return type(cause)
    if isinstance(exc, APIError):
        name = _BY_RPC_CODE.get((exc.status or "").upper()) or _BY_HTTP_STATUS.get(exc.status_code)
        if name is None:
            return gexc.from_http_status(exc.status_code or 500, "").__class__  # type: ignore[no-any-return]
        return getattr(gexc, name)  # type: ignore[no-any-return]
    if isinstance(exc, DeadlineExceededError):
        return gexc.DeadlineExceeded  # type: ignore[no-any-return]
    if isinstance(exc, TransportError):
        return gexc.ServiceUnavailable  # type: ignore[no-any-return]
    if isinstance(exc, InputError):
        if isinstance(exc, _CLIENT_SIDE) or exc.detail == _NOTHING_TO_EMBED:
            return None
        return gexc.InvalidArgument  # type: ignore[no-any-return]
    return None


def as_sdk_error(exc: VertexMMError) -> VertexMMError:
    """``exc`` as the drop-in raises it: the same error, also an instance of the Google class
    (module docstring); ``exc`` itself when there is none or google-api-core is absent."""
    try:
        gexc = importlib.import_module("google.api_core.exceptions")
    except ImportError:
        return exc
    google = _google_class(exc, gexc)
    if google is None or isinstance(exc, google):
        return exc
    cls = sdk_error_class(type(exc), google)
    try:
        new = cls.__new__(cls, *exc.args)
    except TypeError:  # a layout the two cannot share: keep ours
        return exc
    new.args = exc.args
    new.__dict__.update(exc.__dict__)
    if isinstance(new, gexc.GoogleAPICallError):
        cause = exc.__cause__
        from_google = isinstance(cause, gexc.GoogleAPICallError)
        new.message = str(exc)  # what GoogleAPICallError users print
        new._errors = list(cause.errors) if from_google else []  # type: ignore[union-attr]
        new._details = list(cause.details) if from_google else []  # type: ignore[union-attr]
        new._response = cause.response if from_google else None  # type: ignore[union-attr]
        new._error_info = getattr(cause, "_error_info", None) if from_google else None
        if isinstance(exc, APIError) and exc.status_code and type(new).code is None:
            new.code = exc.status_code
    new.__cause__ = exc.__cause__
    new.__suppress_context__ = exc.__suppress_context__
    return new
