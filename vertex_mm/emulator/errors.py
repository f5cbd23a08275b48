"""Errors the emulator answers with, always in Google's envelope::

    {"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT", "details": [...]?}}

One exception class, :class:`GoogleAPIException` (Starlette ``HTTPException`` style), and
handlers that turn it, vertex-mm's own errors and Starlette's 404/405 into that envelope, so
the google SDKs raise the same exception types they raise against the real service.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import APIError, InputError, VertexMMError

__all__ = ["EXCEPTION_HANDLERS", "GoogleAPIException", "STATUS_BY_CODE", "error_response", "parse_json_payload", "retry_info",
           "strict_json_loads"]

# HTTP status -> google.rpc.Code name, as Google's REST frontends map them.
STATUS_BY_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GoogleAPIException(Exception):
    """An error answer. ``status`` defaults to the google.rpc name of ``status_code``."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        status: str | None = None,
        headers: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.status = status or STATUS_BY_CODE.get(status_code, "UNKNOWN")
        self.headers = dict(headers or {})
        self.details = details or []

    def __repr__(self) -> str:
        return f"GoogleAPIException({self.status_code}, {self.status}, {self.message!r})"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"Unexpected token {name}: JSON has no NaN or Infinity")


def strict_json_loads(data: bytes | bytearray | str) -> Any:
    """JSON as Google's parsers read it: Python's also takes the bare ``NaN``/``Infinity``
    tokens that ``json.dumps`` writes for non-finite floats; the service's does not, so a
    client that sends them must fail here as it would there (``ValueError``)."""
    return json.loads(data, parse_constant=_refuse_constant)


def parse_json_payload(body: bytes | bytearray) -> Any:
    """A request body as JSON (:func:`strict_json_loads`), or the 400 Google answers."""
    try:
        return strict_json_loads(body)
    except ValueError as exc:
        raise GoogleAPIException(400, f"Invalid JSON payload received. {exc}") from None


def retry_info(seconds: float) -> dict[str, Any]:
    """The ``google.rpc.RetryInfo`` detail Google attaches to some 429s."""
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:.3f}s"}


def retry_after_header(seconds: float) -> dict[str, str]:
    # HTTP's Retry-After is whole seconds; round up so a client never comes back too early.
    return {"Retry-After": str(max(0, math.ceil(seconds)))}


def error_response(exc: GoogleAPIException) -> Response:
    error: dict[str, Any] = {"code": exc.status_code, "message": exc.message, "status": exc.status}
    if exc.details:
        error["details"] = exc.details
    return JSONResponse({"error": error}, status_code=exc.status_code, headers=exc.headers)


def from_vertex_mm_error(exc: VertexMMError) -> GoogleAPIException:
    """Bad input is the caller's 400; an APIError keeps its status; anything else is a 500."""
    if isinstance(exc, InputError):
        return GoogleAPIException(400, getattr(exc, "detail", str(exc)))  # vertex-mm's advice (exc.hint) is not the service's
    if isinstance(exc, APIError) and exc.status_code:
        return GoogleAPIException(exc.status_code, exc.message, status=exc.status)
    return GoogleAPIException(500, f"{type(exc).__name__}: {exc}")


async def _google(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GoogleAPIException)
    return error_response(exc)


async def _vertex_mm(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VertexMMError)
    return error_response(from_vertex_mm_error(exc))


async def _starlette(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"The requested URL {request.url.path} was not found on this server (vertex-mm emulator)."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}."
    else:
        message = str(exc.detail)
    return error_response(GoogleAPIException(exc.status_code, message, headers=exc.headers))


EXCEPTION_HANDLERS = {
    GoogleAPIException: _google,
    VertexMMError: _vertex_mm,
    StarletteHTTPException: _starlette,
}
