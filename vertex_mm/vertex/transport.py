"""The Vertex transport: the generated ``PredictionServiceClient`` (grpc or rest) behind one
call, ``predict(instance, parameters) -> prediction``, with every foreign error translated into
:mod:`vertex_mm.errors` at this boundary."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, Literal, Mapping, NoReturn

from ..errors import (
    APIError,
    DeadlineExceededError,
    TransportError,
    UnauthenticatedError,
    VertexMMError,
    api_error_for_status,
)

__all__ = ["PredictTransport", "VertexTarget", "translate_error"]

TransportName = Literal["grpc", "rest"]


@dataclass(frozen=True)
class VertexTarget:
    """Where requests go: ``projects/{project}/locations/{location}/publishers/google/models/{model}``."""

    project: str
    location: str = "us-central1"
    model: str = "multimodalembedding@001"

    @property
    def endpoint(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{self.model}"


class PredictTransport:
    """Owns the gapic client. ``api_endpoint`` of the form ``http://host:port`` selects the
    REST transport and anonymous credentials: that is how the emulator is reached."""

    def __init__(
        self,
        target: VertexTarget,
        *,
        transport: TransportName | None = None,
        api_endpoint: str | None = None,
        credentials: Any = None,
        timeout: float = 60.0,
        pool_size: int = 64,
    ) -> None:
        from google.cloud import aiplatform_v1

        insecure = bool(api_endpoint and api_endpoint.startswith("http://"))
        if transport is None:
            transport = "rest" if insecure else "grpc"
        if insecure and transport != "rest":
            raise ValueError(f"api_endpoint {api_endpoint!r} is plain http: use transport='rest'")
        if credentials is None and insecure:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        endpoint = api_endpoint or f"{target.location}-aiplatform.googleapis.com"
        try:
            self._client = aiplatform_v1.PredictionServiceClient(
                transport=transport,
                client_options={"api_endpoint": endpoint},
                credentials=credentials,
            )
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            _reraise(exc)
        if transport == "rest":
            _widen_connection_pool(self._client, pool_size)
        self.target = target
        self.transport_name = transport
        self.api_endpoint = endpoint
        self.timeout = timeout

    def predict(self, instance: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        """One ``:predict`` call with one instance; returns the first prediction as plain JSON."""
        from google.protobuf import json_format, struct_pb2

        inst = json_format.ParseDict(instance, struct_pb2.Value())
        params = json_format.ParseDict(parameters, struct_pb2.Value())
        try:
            # retry=None: tenacity in the batch engine is the one retry layer.
            response = self._client.predict(
                endpoint=self.target.endpoint,
                instances=[inst],
                parameters=params,
                retry=None,
                timeout=self.timeout,
            )
        except Exception as exc:
            _reraise(exc)
        predictions = json_format.MessageToDict(response._pb).get("predictions") or []
        if not predictions:
            raise APIError("the service returned no prediction", status_code=200)
        return predictions[0]

    def close(self) -> None:
        try:
            self._client.transport.close()
        except Exception:
            pass


def _widen_connection_pool(client: Any, pool_size: int) -> None:
    """The REST transport's requests session keeps 10 connections per host; the batch engine
    runs more requests than that at once, and each one past 10 would open and drop a
    connection (with a "Connection pool is full" warning)."""
    import requests.adapters

    session = getattr(client.transport, "_session", None)
    if session is None:
        return
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)


def _reraise(exc: Exception) -> "NoReturn":
    mapped = translate_error(exc)
    if mapped is None:
        raise exc
    raise mapped from exc


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _envelope_status(response: Any) -> str | None:
    """``error.status`` of Google's JSON envelope: REST errors carry no gRPC code."""
    try:
        status = response.json()["error"]["status"]
    except Exception:
        return None
    return status if isinstance(status, str) else None


def translate_error(exc: BaseException) -> VertexMMError | None:
    """Map google-api-core, google-auth, grpc and requests errors onto our tree; None for
    anything else (a bug should surface as itself, not as a service error)."""
    if isinstance(exc, VertexMMError):
        return exc
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        code = int(exc.code) if exc.code is not None else 0
        cls = api_error_for_status(code)
        grpc_code = getattr(exc, "grpc_status_code", None)
        response = getattr(exc, "response", None)
        status = grpc_code.name if grpc_code is not None else _envelope_status(response)
        headers = getattr(response, "headers", None)
        # A gRPC UNAVAILABLE with no HTTP response is a connection failure, not a server answer.
        if isinstance(exc, gexc.ServiceUnavailable) and response is None and "connect" in str(exc).lower():
            return TransportError(f"cannot reach Vertex AI: {exc.message}")
        return cls(
            f"Vertex AI answered {code} {status or ''}: {exc.message}".replace("  ", " "),
            status_code=code,
            status=status,
            retry_after=_retry_after(headers),
        )
    if isinstance(exc, gexc.RetryError):
        return DeadlineExceededError(f"gave up waiting: {exc}")
    try:
        import google.auth.exceptions as auth_exc

        if isinstance(exc, auth_exc.DefaultCredentialsError):
            return UnauthenticatedError(
                f"no Google credentials found ({exc}). Run `gcloud auth application-default login`, "
                "pass credentials=..., or use the emulator (api_endpoint='http://127.0.0.1:PORT')"
            )
        if isinstance(exc, auth_exc.TransportError):
            return TransportError(f"cannot reach the token endpoint: {exc}")
        if isinstance(exc, auth_exc.GoogleAuthError):
            return UnauthenticatedError(f"authentication failed: {exc}")
    except ImportError:  # pragma: no cover - google-auth is a hard dependency
        pass
    try:
        import requests

        if isinstance(exc, requests.Timeout):
            return DeadlineExceededError(f"request timed out: {exc}")
        if isinstance(exc, requests.ConnectionError):
            return TransportError(f"connection failed: {exc}")
        if isinstance(exc, requests.RequestException):
            return TransportError(f"HTTP transport error: {exc}")
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransportError(f"connection failed: {exc}")
    return None
