"""The generated ``PredictionServiceClient`` (REST transport) against the emulator, end to end."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.protobuf import json_format, struct_pb2

from vertex_mm import Image

ENDPOINT = "projects/test-project/locations/us-central1/publishers/google/models/multimodalembedding@001"


def _client(module, url):
    return module.PredictionServiceClient(
        transport="rest", client_options={"api_endpoint": url}, credentials=AnonymousCredentials()
    )


def _value(obj) -> struct_pb2.Value:
    return json_format.ParseDict(obj, struct_pb2.Value())


@pytest.fixture
def client(emulator):
    from google.cloud import aiplatform_v1

    c = _client(aiplatform_v1, emulator.url)
    yield c
    c.transport.close()


def test_predict_with_one_instance(client, hashed, jpeg_bytes):
    instance = {"image": {"bytesBase64Encoded": base64.b64encode(jpeg_bytes).decode()}, "text": "a red square"}
    response = client.predict(endpoint=ENDPOINT, instances=[_value(instance)], parameters=_value({"dimension": 512}))
    prediction = json_format.MessageToDict(response._pb)["predictions"][0]
    assert response.deployed_model_id
    expected = hashed.get_embeddings(image=Image(jpeg_bytes), contextual_text="a red square", dimension=512)
    np.testing.assert_allclose(prediction["imageEmbedding"], expected.image_embedding, rtol=1e-6)
    np.testing.assert_allclose(prediction["textEmbedding"], expected.text_embedding, rtol=1e-6)


def test_the_v1beta1_client_works_too(emulator):
    from google.cloud import aiplatform_v1beta1

    c = _client(aiplatform_v1beta1, emulator.url)
    response = c.predict(endpoint=ENDPOINT, instances=[_value({"text": "hello"})], parameters=_value({"dimension": 128}))
    assert len(json_format.MessageToDict(response._pb)["predictions"][0]["textEmbedding"]) == 128


def test_more_than_one_instance_is_a_400_like_the_service(client):
    with pytest.raises(gexc.BadRequest, match="exactly one instance per request; got 2"):
        client.predict(endpoint=ENDPOINT, instances=[_value({"text": "a"}), _value({"text": "b"})])


def test_an_instance_without_content_is_a_400(client):
    with pytest.raises(gexc.BadRequest, match="One of `image`, `video`, or `contextual_text` is required"):
        client.predict(endpoint=ENDPOINT, instances=[_value({})])


def test_unknown_instance_fields_are_a_400(client):
    with pytest.raises(gexc.BadRequest, match=r"unknown instance fields: \['audio'\]"):
        client.predict(endpoint=ENDPOINT, instances=[_value({"audio": {"gcsUri": "gs://b/a.wav"}})])


def test_injected_503_is_service_unavailable(client, emulator):
    emulator.set_faults(fault_rate_503=1.0)
    with pytest.raises(gexc.ServiceUnavailable, match="currently unavailable"):
        client.predict(endpoint=ENDPOINT, instances=[_value({"text": "x"})], retry=None)
    assert emulator.stats()["503"] == 1


def test_the_gemini_model_is_not_served_by_predict(client):
    with pytest.raises(gexc.BadRequest, match="gemini-embedding-2 is served by :embedContent"):
        client.predict(endpoint=ENDPOINT.replace("multimodalembedding@001", "gemini-embedding-2"),
                       instances=[_value({"text": "x"})])


def test_the_classic_embedding_prediction_client_sample(client, hashed, jpeg_bytes):
    # The docs' EmbeddingPredictionClient: a Struct built field by field, no parameters, and
    # the vectors read from the proto-plus map of the first prediction.
    instance = struct_pb2.Struct()
    instance.fields["text"].string_value = "a red square"
    image_struct = instance.fields["image"].struct_value
    image_struct.fields["bytesBase64Encoded"].string_value = base64.b64encode(jpeg_bytes).decode("utf-8")
    response = client.predict(endpoint=ENDPOINT, instances=[instance])
    text_embedding = [v for v in response.predictions[0]["textEmbedding"]]
    image_embedding = [v for v in response.predictions[0]["imageEmbedding"]]
    expected = hashed.get_embeddings(image=Image(jpeg_bytes), contextual_text="a red square")
    assert len(text_embedding) == len(image_embedding) == 1408
    np.testing.assert_allclose(text_embedding, expected.text_embedding, rtol=1e-6)
    np.testing.assert_allclose(image_embedding, expected.image_embedding, rtol=1e-6)


def test_parameters_other_than_dimension_are_ignored(client):
    # The docs' Node.js and Java samples send {"sampleCount": 1} to this model.
    response = client.predict(endpoint=ENDPOINT, instances=[_value({"text": "x"})], parameters=_value({"sampleCount": 1}))
    assert len(response.predictions[0]["textEmbedding"]) == 1408
