"""GeminiEmbedder against the emulator, on points where it must behave as google-genai and the
service do (the audit in the fidelity notes): dimensions for every input, and the config
fields it sends."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from factories import pdf_bytes

from vertex_mm import Document, Video, get_embedder
from vertex_mm.errors import InputError, InvalidDimensionError


@pytest.mark.parametrize("dimension", [128, 256, 1000, 3072])
def test_a_video_takes_any_dimension_of_the_range_as_other_inputs_do(gemini, mp4_10s, dimension):
    # gemini-embedding-2 embeds a video as one more content part: output_dimensionality is
    # free (128..3072) whatever the parts are, so get_embeddings(video=...) takes it as well.
    video = Video(mp4_10s)
    response = gemini.get_embeddings(video=video, dimension=dimension)
    assert len(response.video_embeddings) == 1
    assert len(response.video_embeddings[0].embedding) == dimension
    assert gemini.embed_content([video], dimension=dimension).shape == (dimension,)


@pytest.mark.parametrize("dimension", [64, 4096])
def test_a_video_dimension_outside_the_range_is_refused_naming_the_range(gemini, mp4_10s, dimension):
    with pytest.raises(InvalidDimensionError, match=r"128\.\.3072"):
        gemini.get_embeddings(video=Video(mp4_10s), dimension=dimension)


# -- document OCR: EmbedContentConfig.document_ocr ---------------------------------------------


@pytest.fixture
def sent_bodies(emulator):
    """``(bodies, client)``: a real google-genai Vertex client of the emulator whose request
    bodies are recorded as they leave (an httpx event hook, the transport boundary)."""
    import google.oauth2.credentials
    import httpx
    from google import genai
    from google.genai import types

    bodies: list[dict] = []

    def record(request: httpx.Request) -> None:
        if request.method == "POST":
            bodies.append(json.loads(request.read() or b"{}"))

    http = httpx.Client(event_hooks={"request": [record]})
    client = genai.Client(
        vertexai=True, project="test-project", location="global",
        credentials=google.oauth2.credentials.Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=emulator.url, httpx_client=http),
    )
    yield bodies, client
    client.close()
    http.close()


def _ocr_embedder(client, **kw):
    return get_embedder("gemini", client=client, retry="none", requests_per_minute=None, **kw)


def test_document_ocr_is_sent_with_contents_that_hold_a_pdf(sent_bodies, hashed):
    bodies, client = sent_bodies
    pdf = Document(pdf_bytes(pages=2))
    with _ocr_embedder(client, document_ocr=True) as emb:
        vector = emb.embed_content(["quarterly report", pdf], dimension=256)
        emb.embed_content("no pdf here", dimension=256)
    assert bodies[0]["embedContentConfig"] == {"outputDimensionality": 256, "documentOcr": True}
    assert bodies[1]["embedContentConfig"] == {"outputDimensionality": 256}  # nothing to read
    np.testing.assert_allclose(vector, hashed.embed_content(["quarterly report", pdf], dimension=256),
                               rtol=1e-5, atol=1e-7)


def test_document_ocr_is_off_by_default_and_stays_out_of_the_request(sent_bodies):
    bodies, client = sent_bodies
    with _ocr_embedder(client) as emb:
        emb.embed_content([Document(pdf_bytes(pages=1))], dimension=128)
    assert "documentOcr" not in bodies[0]["embedContentConfig"]


def test_vectors_with_and_without_ocr_are_cached_apart(sent_bodies):
    _, client = sent_bodies
    with _ocr_embedder(client) as plain, _ocr_embedder(client, document_ocr=True) as ocr:
        assert plain._cache_scope() != ocr._cache_scope()
        assert "document_ocr=True" in repr(ocr)


def test_document_ocr_must_be_a_bool(emulator):
    with pytest.raises(InputError, match="document_ocr"):
        get_embedder("gemini", base_url=emulator.url, document_ocr="yes")


def test_batch_job_rows_with_a_pdf_ask_for_ocr_too(emulator):
    from vertex_mm.jobs.batch_prediction import _input_line

    with get_embedder("gemini", base_url=emulator.url, document_ocr=True) as emb:
        pdf_row = _input_line(emb, "a", emb.build_content_request(Document(pdf_bytes(pages=1)), dimension=768))
        text_row = _input_line(emb, "b", emb.build_content_request("text", dimension=768))
    assert pdf_row["request"]["embed_content_config"] == {"output_dimensionality": 768, "document_ocr": True}
    assert text_row["request"]["embed_content_config"] == {"output_dimensionality": 768}


# -- truncation: the service embeds the first 8192 tokens and says so --------------------------


def _canned_client(answer: dict):
    """A real google-genai Vertex client whose HTTP answers are ``answer`` (the wire shape of
    :embedContent; httpx.MockTransport is the transport boundary)."""
    import google.oauth2.credentials
    import httpx
    from google import genai
    from google.genai import types

    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer)))
    return genai.Client(
        vertexai=True, project="test-project", location="global",
        credentials=google.oauth2.credentials.Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url="https://aiplatform.googleapis.com/", httpx_client=http),
    )


def test_a_truncated_content_warns_once_per_embedder():
    answer = {"embedding": {"values": [0.6, 0.8] + [0.0] * 126},
              "usageMetadata": {"promptTokenCount": 9100}, "truncated": True}
    with get_embedder("gemini", client=_canned_client(answer), retry="none", requests_per_minute=None) as emb:
        with pytest.warns(UserWarning, match=r"truncated a content to its first 8192 tokens \(one had 9,100"):
            vector = emb.embed_content("a very long text", dimension=128)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per embedder: the second call is quiet
            emb.embed_content("another very long text", dimension=128)
    np.testing.assert_allclose(vector[:2], [0.6, 0.8])


def test_an_untruncated_answer_does_not_warn():
    answer = {"embedding": {"values": [1.0] + [0.0] * 127}, "usageMetadata": {"promptTokenCount": 3}}
    with get_embedder("gemini", client=_canned_client(answer), retry="none", requests_per_minute=None) as emb:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            emb.embed_content("short", dimension=128)
