"""What the Vertex and Gemini backends share about talking to Google: the project to bill,
whether an endpoint is a local plain-HTTP one, the ``Retry-After`` header, and the translation
of every Google client error (google-api-core, google-auth, google-genai, requests, httpx) into
:mod:`vertex_mm.errors` at the transport boundary.

Nothing here imports a Google SDK at import time: each is imported only when an error of its
kind may be in hand.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import sys
import time
import urllib.parse
from typing import Any, NoReturn

from .errors import (
    APIError,
    DeadlineExceededError,
    TransportError,
    UnauthenticatedError,
    VertexMMError,
    api_error_for_status,
)

__all__ = [
    "CLI_WORDING",
    "EMULATOR_PROJECT",
    "default_project",
    "default_region",
    "is_loopback",
    "is_plain_http",
    "raise_translated",
    "retry_after",
    "translate_error",
    "with_scheme",
]

#: Project name used against a plain-http endpoint (the emulator) when none is given.
EMULATOR_PROJECT = "local-project"

# CLOUD_ML_PROJECT_ID: what Vertex AI sets inside its own jobs and pipelines (aiplatform reads it
# after GOOGLE_CLOUD_PROJECT); it may hold the project number, which resource names accept too.
_PROJECT_VARS = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT", "CLOUD_ML_PROJECT_ID")

_PY_CREDENTIALS = "pass credentials=..."
_PY_EMULATOR = "api_endpoint='http://127.0.0.1:PORT'"

#: The Python phrases of the messages here and what ``vertex-mm`` says instead (its flags).
CLI_WORDING: dict[str, str] = {
    _PY_CREDENTIALS: "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file",
    _PY_EMULATOR: "--api-endpoint http://127.0.0.1:PORT",
}


def default_project() -> str | None:
    """The project from the environment (``GOOGLE_CLOUD_PROJECT`` and its older names), or None.
    Callers fall back to the project of Application Default Credentials."""
    for var in _PROJECT_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return None


#: The region variables vision_models reads (aiplatform's initializer), in its order.
_REGION_VARS = ("GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION")


def default_region() -> str | None:
    """The region from the environment (``GOOGLE_CLOUD_REGION``, then ``CLOUD_ML_REGION``, as
    vision_models reads them), or None."""
    return next((os.environ[v] for v in _REGION_VARS if os.environ.get(v)), None)


def with_scheme(url: str | None) -> str | None:
    """``host:port`` becomes ``https://host:port``; a URL with a scheme is kept as it is."""
    if not url:
        return None
    return url if "://" in url else f"https://{url}"


def is_plain_http(url: str | None) -> bool:
    """Whether ``url`` is ``http://`` (any letter case: ``HTTP://`` is the same scheme)."""
    return bool(url) and urllib.parse.urlsplit(url or "").scheme.lower() == "http"


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = (urllib.parse.urlsplit(url or "").hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None
    return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None


def _envelope_status(response: Any) -> str | None:
    """``error.status`` of Google's JSON envelope: REST errors carry no gRPC code."""
    try:
        status = response.json()["error"]["status"]
    except Exception:
        return None
    return status if isinstance(status, str) else None


def _api_error(service: str, code: int, status: str | None, message: Any, headers: Any) -> APIError:
    return api_error_for_status(code)(
        f"{service} answered {code} {status or ''}: {message}".replace("  ", " "),
        status_code=code,
        status=status,
        retry_after=retry_after(headers),
    )


# The HTTP libraries under google-auth and google-genai: (module, exception, our error, what
# happened). Order matters: a timeout is also a transport error in both libraries.
_HTTP_LIBRARY_ERRORS: tuple[tuple[str, str, type[VertexMMError], str], ...] = (
    ("httpx", "TimeoutException", DeadlineExceededError, "request timed out"),
    ("httpx", "TransportError", TransportError, "connection failed"),
    ("requests", "Timeout", DeadlineExceededError, "request timed out"),
    ("requests", "ConnectionError", TransportError, "connection failed"),
    ("requests", "RequestException", TransportError, "HTTP transport error"),
)


def translate_error(exc: BaseException) -> VertexMMError | None:
    """The :mod:`vertex_mm.errors` error for a Google client exception; None for anything else
    (a bug must surface as itself, not as a service error)."""
    if isinstance(exc, VertexMMError):
        return exc
    genai = sys.modules.get("google.genai.errors")
    if genai is not None and isinstance(exc, genai.APIError):
        status = exc.status if isinstance(exc.status, str) else None
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return _api_error("Gemini API", int(exc.code or 0), status, exc.message, headers)
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        code = int(exc.code) if exc.code is not None else 0
        grpc_code = getattr(exc, "grpc_status_code", None)
        response = getattr(exc, "response", None)
        # A gRPC UNAVAILABLE with no HTTP response is a connection failure, not a server answer.
        if isinstance(exc, gexc.ServiceUnavailable) and response is None and "connect" in str(exc).lower():
            return TransportError(f"cannot reach Vertex AI: {exc.message}")
        status = grpc_code.name if grpc_code is not None else _envelope_status(response)
        return _api_error("Vertex AI", code, status, exc.message, getattr(response, "headers", None))
    if isinstance(exc, gexc.RetryError):
        return DeadlineExceededError(f"gave up waiting: {exc}")
    import google.auth.exceptions as auth_exc

    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return UnauthenticatedError(
            f"no Google credentials found ({exc}). Run `gcloud auth application-default login`, "
            f"{_PY_CREDENTIALS}, or use the emulator ({_PY_EMULATOR})"
        )
    if isinstance(exc, auth_exc.TransportError):
        return TransportError(f"cannot reach the token endpoint: {exc}")
    if isinstance(exc, auth_exc.GoogleAuthError):
        return UnauthenticatedError(f"authentication failed: {exc}")
    for module, name, error, what in _HTTP_LIBRARY_ERRORS:
        lib = sys.modules.get(module)  # only a library already imported can have raised it
        if lib is not None and isinstance(exc, getattr(lib, name)):
            return error(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransportError(f"connection failed: {exc}")
    return None


def raise_translated(exc: BaseException) -> NoReturn:
    """Raise the translation of ``exc`` (chained to it), or ``exc`` itself if it has none."""
    mapped = translate_error(exc)
    if mapped is None:
        raise exc
    raise mapped from exc
