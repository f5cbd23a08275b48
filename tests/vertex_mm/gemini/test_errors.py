"""Every failure google-genai can raise maps onto vertex_mm.errors (real exception objects)."""

from __future__ import annotations

import httpx
import pytest
from google.genai import errors as genai_errors

from vertex_mm import errors
from vertex_mm.gemini import GeminiEmbedder, translate_genai_error

REQUEST = httpx.Request("POST", "https://us-central1-aiplatform.googleapis.com/v1beta1/x:embedContent")


def _api_error(code: int, status: str, headers: dict[str, str] | None = None) -> genai_errors.APIError:
    body = {"error": {"code": code, "message": f"{status} happened", "status": status}}
    response = httpx.Response(code, json=body, headers=headers, request=REQUEST)
    cls = genai_errors.ClientError if code < 500 else genai_errors.ServerError
    return cls(code, body, response)


@pytest.mark.parametrize(
    "code, status, expected",
    [
        (400, "INVALID_ARGUMENT", errors.InvalidArgumentError),
        (401, "UNAUTHENTICATED", errors.UnauthenticatedError),
        (403, "PERMISSION_DENIED", errors.PermissionDeniedError),
        (404, "NOT_FOUND", errors.NotFoundError),
        (429, "RESOURCE_EXHAUSTED", errors.QuotaExceededError),
        (500, "INTERNAL", errors.InternalServerError),
        (503, "UNAVAILABLE", errors.ServiceUnavailableError),
        (504, "DEADLINE_EXCEEDED", errors.DeadlineExceededError),
        (408, "REQUEST_TIMEOUT", errors.DeadlineExceededError),
        (501, "UNIMPLEMENTED", errors.APIError),
        (505, "HTTP_VERSION", errors.APIError),
        (502, "BAD_GATEWAY", errors.InternalServerError),
    ],
)
def test_api_errors_map_by_status(code, status, expected):
    mapped = translate_genai_error(_api_error(code, status))
    assert type(mapped) is expected
    assert (mapped.status_code, mapped.status) == (code, status)
    assert mapped.retryable == (code in (408, 429) or (code >= 500 and code not in (501, 505)))
    assert f"{status} happened" in str(mapped)


def test_retry_after_is_read_from_the_response():
    mapped = translate_genai_error(_api_error(429, "RESOURCE_EXHAUSTED", {"Retry-After": "7"}))
    assert mapped.retry_after == 7.0 and mapped.retryable


@pytest.mark.parametrize(
    "exc, expected",
    [
        (httpx.ConnectError("refused", request=REQUEST), errors.TransportError),
        (httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQUEST), errors.TransportError),
        (httpx.ReadError("reset", request=REQUEST), errors.TransportError),
        (httpx.ReadTimeout("slow", request=REQUEST), errors.DeadlineExceededError),
        (httpx.ConnectTimeout("slow", request=REQUEST), errors.DeadlineExceededError),
        (ConnectionResetError("reset"), errors.TransportError),
    ],
)
def test_connection_failures_map_to_transport_or_deadline(exc, expected):
    assert type(translate_genai_error(exc)) is expected


def test_google_auth_failures_are_unauthenticated():
    import google.auth.exceptions

    mapped = translate_genai_error(google.auth.exceptions.DefaultCredentialsError("no ADC"))
    assert isinstance(mapped, errors.UnauthenticatedError) and "application-default login" in str(mapped)


def test_anything_else_is_left_alone():
    assert translate_genai_error(KeyError("a bug")) is None


def test_nothing_reachable_is_a_transport_error():
    # A port nothing listens on: the first call fails to connect.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emb = GeminiEmbedder(base_url=f"http://127.0.0.1:{port}", retry="none")
    with pytest.raises(errors.TransportError):
        emb.get_embeddings(contextual_text="x")


def test_api_key_and_project_are_exclusive():
    with pytest.raises(ValueError, match="excludes project"):
        GeminiEmbedder(project="p", api_key="k")


@pytest.mark.parametrize("location", ["us-central1", "mars", "", "GLOBAL"])
def test_a_location_the_model_is_not_served_from_is_refused_before_the_network(location):
    with pytest.raises(errors.InputError, match="'global'.*'us' / 'eu' multi-regions") as info:
        GeminiEmbedder(project="p", location=location)
    assert info.value.input_name == "location" and repr(location) in str(info.value)


@pytest.mark.parametrize("location", ["global", "us", "eu"])
def test_the_served_locations_are_accepted(location):
    emb = GeminiEmbedder(base_url="http://127.0.0.1:9", location=location)
    assert emb.location == location
    emb.close()
