"""The real ``google-genai`` SDK (``embed_content`` on Vertex) against the emulator, end to end."""

from __future__ import annotations

import io

import numpy as np
import pytest

from vertex_mm import Image
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.testing import HashedEmbedder


@pytest.fixture
def genai_client(emulator):
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    client = genai.Client(
        vertexai=True,
        project="test-project",
        location="us-central1",
        # genai refuses AnonymousCredentials on Vertex; the emulator never checks the token.
        credentials=google.oauth2.credentials.Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=emulator.url),
    )
    yield client
    client.close()


def _values(response) -> np.ndarray:
    assert len(response.embeddings) == 1
    return np.asarray(response.embeddings[0].values)


def test_text_gets_the_default_3072_dimensions(genai_client, hashed):
    r = genai_client.models.embed_content(model="gemini-embedding-2", contents="a sunny beach")
    v = _values(r)
    assert v.shape == (3072,)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    expected = HashedEmbedder(limits=GEMINI_EMBEDDING_2).embed_content("a sunny beach", dimension=3072)
    np.testing.assert_allclose(v, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dimension", [128, 768, 1000, 3072])
def test_output_dimensionality_is_honoured(genai_client, dimension):
    from google.genai import types

    r = genai_client.models.embed_content(
        model="gemini-embedding-2", contents="x", config=types.EmbedContentConfig(output_dimensionality=dimension)
    )
    assert _values(r).shape == (dimension,)


def test_image_bytes_arrive_intact(genai_client, hashed, png_bytes):
    # google-genai sends URL-safe base64; a wrong decode would give another image's vector.
    from google.genai import types

    r = genai_client.models.embed_content(
        model="gemini-embedding-2",
        contents=types.Part.from_bytes(data=png_bytes, mime_type="image/png"),
        config=types.EmbedContentConfig(output_dimensionality=256),
    )
    expected = hashed.embed_content(Image(png_bytes), dimension=256)
    np.testing.assert_allclose(_values(r), expected, rtol=1e-5, atol=1e-7)


def test_image_and_text_parts_fuse_into_one_vector(genai_client, hashed, jpeg_bytes):
    from google.genai import types

    r = genai_client.models.embed_content(
        model="gemini-embedding-2",
        contents=[types.Part.from_bytes(data=jpeg_bytes, mime_type="image/jpeg"), "a red square"],
        config=types.EmbedContentConfig(output_dimensionality=512),
    )
    expected = hashed.embed_content([Image(jpeg_bytes), "a red square"], dimension=512)
    np.testing.assert_allclose(_values(r), expected, rtol=1e-5, atol=1e-7)


def test_a_dimension_out_of_range_is_a_client_error(genai_client):
    from google.genai import errors, types

    with pytest.raises(errors.ClientError) as info:
        genai_client.models.embed_content(
            model="gemini-embedding-2", contents="x", config=types.EmbedContentConfig(output_dimensionality=4096)
        )
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "allowed: 128..3072" in info.value.message


def test_a_tiff_image_is_refused_by_the_gemini_limits(genai_client):
    from google.genai import errors, types
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(buf, format="TIFF")
    with pytest.raises(errors.ClientError, match="TIFF images are not supported by gemini-embedding-2"):
        genai_client.models.embed_content(
            model="gemini-embedding-2", contents=types.Part.from_bytes(data=buf.getvalue(), mime_type="image/tiff")
        )


def test_injected_429_reaches_genai_with_retry_after(genai_client, emulator):
    from google.genai import errors

    emulator.set_faults(fault_rate_429=1.0, retry_after=3)
    with pytest.raises(errors.ClientError) as info:
        genai_client.models.embed_content(model="gemini-embedding-2", contents="x")
    assert info.value.code == 429
    assert info.value.response.headers["Retry-After"] == "3"
    assert emulator.stats()["429"] == 1


def test_the_answer_carries_a_token_count(genai_client):
    r = genai_client.models.embed_content(model="gemini-embedding-2", contents="a sunny beach")
    stats = r.embeddings[0].statistics
    assert stats.token_count and stats.token_count > 0
    assert not stats.truncated  # the service leaves a false `truncated` out; the SDK then reads None


def test_a_content_over_the_token_budget_is_reported_truncated(genai_client):
    r = genai_client.models.embed_content(model="gemini-embedding-2", contents="beach " * 10_000)
    stats = r.embeddings[0].statistics
    assert stats.truncated is True and stats.token_count > 8192


def test_express_mode_with_an_api_key_and_no_project(emulator, hashed):
    from google import genai
    from google.genai import types

    # With an API key and no project the SDK posts /{v}/publishers/google/models/{model}:embedContent.
    client = genai.Client(vertexai=True, api_key="test-key", http_options=types.HttpOptions(base_url=emulator.url))
    try:
        r = client.models.embed_content(model="gemini-embedding-2", contents="a sunny beach",
                                        config=types.EmbedContentConfig(output_dimensionality=128))
    finally:
        client.close()
    assert len(r.embeddings[0].values) == 128
    assert emulator.stats()["2xx"] == 1
