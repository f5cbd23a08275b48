"""The Vertex transport: one call, ``predict(instance, parameters) -> prediction``, behind which
the request travels somehow.

:class:`PredictTransport` is the seam. :class:`GapicTransport` is the production one: the
generated ``PredictionServiceClient`` (grpc or rest), with every foreign error translated into
:mod:`vertex_mm.errors` at this boundary. :class:`vertex_mm.testing.InMemoryTransport` answers
in-process, through the same wire format, for tests without a network. Pass either to
``VertexEmbedder(transport=...)``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import APIError, InputError
from ..google_api import is_loopback, is_plain_http, raise_translated

__all__ = ["GapicTransport", "PredictTransport", "TransportName", "VertexTarget", "service_endpoint"]

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


class PredictTransport(abc.ABC):
    """Carries one ``:predict`` call. Raise only :mod:`vertex_mm.errors` errors."""

    #: Names where requests go; it separates cache entries (the emulator is not Google).
    api_endpoint: str = ""
    #: ``"grpc"``, ``"rest"``, ``"in-memory"``...: for ``repr`` and logs.
    transport_name: str = ""

    @abc.abstractmethod
    def predict(self, instance: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Send one instance with its parameters; return the first prediction as plain JSON."""

    def close(self) -> None:
        """Release connections. Safe to call twice."""


def service_endpoint(location: str) -> str:
    """The Vertex AI host for ``location``: regional (``us-central1-aiplatform...``), and the
    location-invariant host for ``global``, as aiplatform picks it (``global-aiplatform...``
    does not resolve, and each request was retried as a connection error until it gave up)."""
    return "aiplatform.googleapis.com" if location.lower() == "global" else f"{location}-aiplatform.googleapis.com"


class GapicTransport(PredictTransport):
    """Owns the gapic ``PredictionServiceClient``. ``api_endpoint`` of the form
    ``http://host:port`` selects the REST transport and anonymous credentials: that is how the
    emulator is reached."""

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

        insecure = is_plain_http(api_endpoint)
        if transport is None:
            transport = "rest" if insecure else "grpc"
        if transport not in ("grpc", "rest"):
            raise InputError(f"transport must be 'grpc' or 'rest', got {transport!r}", input_name="transport")
        if insecure and transport != "rest":
            raise InputError(f"api_endpoint {api_endpoint!r} is plain http: use transport='rest'", input_name="transport")
        if insecure and credentials is not None and not is_loopback(api_endpoint):
            # Plain HTTP to another machine would show the bearer token to the network.
            raise InputError(f"refusing to send credentials over plain HTTP to {api_endpoint}; use https:// "
                             "or a loopback address (127.0.0.1) for the emulator", input_name="api_endpoint")
        if credentials is None and insecure:
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        endpoint = api_endpoint or service_endpoint(target.location)
        try:
            self._client = aiplatform_v1.PredictionServiceClient(
                transport=transport,
                client_options={"api_endpoint": endpoint},
                credentials=credentials,
            )
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            raise_translated(exc)
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
            raise_translated(exc)
        predictions = json_format.MessageToDict(response._pb).get("predictions") or []
        if not predictions:
            raise APIError("the service returned no prediction", status_code=200)
        return dict(predictions[0])

    def close(self) -> None:
        try:
            self._client.transport.close()  # type: ignore[no-untyped-call]
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
