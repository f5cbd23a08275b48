"""The Vertex transport: requests reach the gapic client in the documented shape, and every
foreign error is translated at this boundary (pytest-mock at the gapic call only)."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc

from vertex_mm import Image, errors, get_embedder
from vertex_mm.vertex import translate_error


@pytest.fixture
def embedder():
    return get_embedder("vertex", project="proj", location="europe-west4", api_endpoint="http://127.0.0.1:9")


def _predict_response(prediction):
    from google.cloud.aiplatform_v1.types import PredictResponse
    from google.protobuf import json_format, struct_pb2

    response = PredictResponse()
    response._pb.predictions.append(json_format.ParseDict(prediction, struct_pb2.Value()))
    return response


def test_request_goes_to_the_publisher_model_endpoint(embedder, mocker, jpeg_bytes):
    predict = mocker.patch.object(
        embedder._transport._client, "predict",
        return_value=_predict_response({"imageEmbedding": [0.5] * 128, "textEmbedding": [0.25] * 128}),
    )
    r = embedder.get_embeddings(image=Image(jpeg_bytes), contextual_text="hello", dimension=128)
    kwargs = predict.call_args.kwargs
    assert kwargs["endpoint"] == "projects/proj/locations/europe-west4/publishers/google/models/multimodalembedding@001"
    assert len(kwargs["instances"]) == 1
    inst = kwargs["instances"][0].struct_value
    assert inst["text"] == "hello" and inst["image"]["mimeType"] == "image/jpeg"
    assert kwargs["parameters"].struct_value["dimension"] == 128
    assert kwargs["retry"] is None
    assert r.image_embedding == [0.5] * 128 and r.space.id == "vertex/multimodalembedding@001/128"


def test_plain_http_endpoint_uses_rest_and_anonymous_credentials(embedder):
    from google.auth.credentials import AnonymousCredentials

    assert embedder._transport.transport_name == "rest"
    assert isinstance(embedder._transport._client.transport._credentials, AnonymousCredentials)


class _Resp:
    def __init__(self, headers):
        self.headers = headers


@pytest.mark.parametrize(
    "exc,expected",
    [
        (gexc.BadRequest("bad"), errors.InvalidArgumentError),
        (gexc.Unauthenticated("who"), errors.UnauthenticatedError),
        (gexc.PermissionDenied("no"), errors.PermissionDeniedError),
        (gexc.NotFound("where"), errors.NotFoundError),
        (gexc.TooManyRequests("slow down"), errors.QuotaExceededError),
        (gexc.ResourceExhausted("quota"), errors.QuotaExceededError),
        (gexc.InternalServerError("oops"), errors.InternalServerError),
        (gexc.ServiceUnavailable("later"), errors.ServiceUnavailableError),
        (gexc.GatewayTimeout("late"), errors.DeadlineExceededError),
        (gexc.DeadlineExceeded("late"), errors.DeadlineExceededError),
        (gexc.MethodNotImplemented("no such method"), errors.APIError),
        (requests.ConnectionError("reset by peer"), errors.TransportError),
        (requests.Timeout("read timeout"), errors.DeadlineExceededError),
        (ConnectionResetError("reset"), errors.TransportError),
    ],
)
def test_every_foreign_error_is_mapped(exc, expected):
    mapped = translate_error(exc)
    assert type(mapped) is expected


@pytest.mark.parametrize("exc", [gexc.BadRequest("x"), gexc.NotFound("x"), gexc.PermissionDenied("x"),
                                 gexc.MethodNotImplemented("x")])
def test_client_errors_are_not_retryable(exc):
    assert translate_error(exc).retryable is False


@pytest.mark.parametrize("exc", [gexc.TooManyRequests("x"), gexc.ServiceUnavailable("x"), gexc.GatewayTimeout("x"),
                                 gexc.InternalServerError("x"), requests.ConnectionError("x")])
def test_transient_errors_are_retryable(exc):
    assert translate_error(exc).retryable is True


def test_retry_after_header_is_kept():
    exc = gexc.TooManyRequests("quota", response=_Resp({"Retry-After": "7"}))
    assert translate_error(exc).retry_after == 7.0


def test_unknown_exceptions_are_not_disguised(embedder, mocker):
    mocker.patch.object(embedder._transport._client, "predict", side_effect=KeyError("bug"))
    with pytest.raises(KeyError):
        embedder.get_embeddings(contextual_text="x")


def test_service_error_surfaces_typed(embedder, mocker):
    mocker.patch.object(embedder._transport._client, "predict", side_effect=gexc.ResourceExhausted("Quota exceeded"))
    with pytest.raises(errors.QuotaExceededError, match="Quota exceeded"):
        embedder.get_embeddings(contextual_text="x")


@pytest.mark.parametrize(("location", "host"), [("global", "aiplatform.googleapis.com"),
                                                 ("GLOBAL", "aiplatform.googleapis.com"),
                                                 ("europe-west4", "europe-west4-aiplatform.googleapis.com")])
def test_the_location_picks_the_host_as_aiplatform_does(location, host):
    # CLOUD_ML_REGION=global is common: 'global-aiplatform...' does not resolve, and every request
    # was retried as a connection error until the policy gave up.
    from google.auth.credentials import AnonymousCredentials

    from vertex_mm import get_embedder

    emb = get_embedder("vertex", project="p", location=location, credentials=AnonymousCredentials())
    try:
        assert emb._transport._client._transport._host == f"{host}:443"
    finally:
        emb.close()
