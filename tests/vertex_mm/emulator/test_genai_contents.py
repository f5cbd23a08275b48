"""The unmodified google-genai SDK sends gemini-embedding-2 contents of every part type to the
emulator and gets one vector per content; over-limit contents get 400 INVALID_ARGUMENT with a
message naming the limit, as from the service."""

from __future__ import annotations

import numpy as np
import pytest
from factories import image_bytes, mp3_bytes, mp4_bytes, pdf_bytes, wav_bytes

from vertex_mm import Audio, Document, Image, Video


def _embed(client, parts, dimension=256):
    from google.genai import types

    r = client.models.embed_content(model="gemini-embedding-2", contents=types.Content(role="user", parts=parts),
                                    config=types.EmbedContentConfig(output_dimensionality=dimension))
    assert len(r.embeddings) == 1
    return np.asarray(r.embeddings[0].values)


def _bytes(data, mime):
    from google.genai import types

    return types.Part.from_bytes(data=data, mime_type=mime)


def _text(text):
    from google.genai import types

    return types.Part(text=text)


@pytest.fixture
def client(genai_client):
    return genai_client  # the short name these tests read with


@pytest.mark.parametrize("kind", ["pdf", "wav", "mp3", "mp4"])
def test_each_media_part_type_gets_the_vector_of_its_bytes(client, hashed, kind):
    data, mime, media = {
        "pdf": (pdf_bytes(2), "application/pdf", Document),
        "wav": (wav_bytes(1.0), "audio/wav", Audio),
        "mp3": (mp3_bytes(1.0), "audio/mpeg", Audio),
        "mp4": (mp4_bytes(2.0), "video/mp4", Video),
    }[kind]
    v = _embed(client, [_bytes(data, mime)])
    np.testing.assert_allclose(v, hashed.embed_content(media(data), dimension=256), rtol=1e-5, atol=1e-7)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_six_images_are_one_vector(client, hashed):
    images = [image_bytes("PNG", color=(40 * i, 20, 200)) for i in range(6)]
    v = _embed(client, [_bytes(b, "image/png") for b in images])
    np.testing.assert_allclose(v, hashed.embed_content([Image(b) for b in images], dimension=256), rtol=1e-5)


def test_interleaved_text_images_and_a_pdf_are_one_vector_in_order(client, hashed):
    png, pdf = image_bytes("PNG"), pdf_bytes(3)
    parts = [_text("the chart"), _bytes(png, "image/png"), _text("in the report"), _bytes(pdf, "application/pdf")]
    v = _embed(client, parts, dimension=768)
    expected = hashed.embed_content(["the chart", Image(png), "in the report", Document(pdf)], dimension=768)
    np.testing.assert_allclose(v, expected, rtol=1e-5)
    swapped = _embed(client, [parts[1], parts[0], parts[2], parts[3]], dimension=768)
    assert not np.allclose(v, swapped)  # the order of the parts is part of the content


def _refused(client, parts):
    from google.genai import errors

    with pytest.raises(errors.ClientError) as caught:
        _embed(client, parts)
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    return caught.value.message


def test_seven_images_are_a_400_naming_the_limit(client):
    message = _refused(client, [_bytes(image_bytes("PNG"), "image/png")] * 7)
    assert "7 images" in message and "at most 6" in message


def test_a_seven_page_pdf_is_a_400_naming_the_limit(client):
    message = _refused(client, [_bytes(pdf_bytes(7), "application/pdf")])
    assert "7 pages" in message and "at most 6" in message
    assert "vertex-mm" not in message  # the service's answer, without vertex-mm's advice


def test_a_pdf_that_is_not_a_pdf_is_a_400(client):
    assert "not a PDF" in _refused(client, [_bytes(image_bytes("PNG"), "application/pdf")])


def test_over_long_audio_is_a_400(client):
    assert "at most 180 s" in _refused(client, [_bytes(wav_bytes(181.0, rate=800), "audio/wav")])


@pytest.mark.parametrize("dimension", [100, 4000])
def test_dimensions_outside_the_range_are_a_400(client, dimension):
    from google.genai import errors

    with pytest.raises(errors.ClientError) as caught:
        _embed(client, [_text("x")], dimension=dimension)
    assert caught.value.code == 400 and "128..3072" in caught.value.message


def test_several_contents_in_one_call_are_refused_by_the_sdk_itself(client):
    # google-genai on Vertex sends one content per :embedContent call; it raises before sending.
    from google.genai import types

    with pytest.raises(ValueError, match="one content at a time"):
        client.models.embed_content(model="gemini-embedding-2",
                                    contents=[types.Content(parts=[_text("a")]), types.Content(parts=[_text("b")])])
