"""The whole request, not each part alone, must fit the model's request limit (30 MB on the
wire): an image and a video, or a video and a long text, each within its own limit, are
refused together before anything is sent, with an InputError naming the parts and the limit."""

from __future__ import annotations

import base64
import io
import json
import struct

import pytest
from factories import image_bytes, mp4_bytes
from PIL import Image as PILImage

from vertex_mm import Image, Video
from vertex_mm.errors import InputError, InvalidContentError, VideoTooLargeError
from vertex_mm.limits import (
    GEMINI_EMBEDDING_2,
    MULTIMODAL_EMBEDDING_001,
    REQUEST_ENVELOPE_BYTES,
    base64_size,
    check_request_size,
    json_text_size,
)
from vertex_mm.testing import InMemoryTransport
from vertex_mm.vertex import VertexEmbedder
from vertex_mm.wire import EmbedRequest, build_embed_content_body, build_instance, build_parameters

MB = 1024 * 1024


def _padded_mp4(extra: int) -> bytes:
    """A real small MP4 made ``extra`` bytes larger by a valid trailing ``free`` box."""
    return mp4_bytes(seconds=2.0, fps=2, size=(32, 32)) + struct.pack(">I", extra + 8) + b"free" + bytes(extra)


@pytest.fixture(scope="module")
def bmp_10mb() -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (1900, 1800), (40, 90, 200)).save(buf, "BMP")  # BMP is not compressed: ~10 MB
    return buf.getvalue()


def test_001_image_and_video_each_within_limits_are_refused_together_before_sending(bmp_10mb):
    video = _padded_mp4(15 * MB)
    limits = MULTIMODAL_EMBEDDING_001
    assert len(bmp_10mb) < limits.max_image_bytes and len(video) < limits.max_inline_video_bytes
    transport = InMemoryTransport()
    embedder = VertexEmbedder(transport=transport, requests_per_minute=None)
    embedder.build_request(image=Image(bmp_10mb))  # each alone is fine
    embedder.build_request(video=Video(video))
    with pytest.raises(VideoTooLargeError) as caught:
        embedder.get_embeddings(image=Image(bmp_10mb), video=Video(video))
    message = str(caught.value)
    assert f"image {base64_size(len(bmp_10mb)):,}" in message and f"video {base64_size(len(video)):,}" in message
    assert f"at most {limits.max_request_bytes:,} bytes (30 MB) per request" in message
    assert "gs://" in message and caught.value.input_name == "video"
    assert transport.calls == []  # nothing went out


def test_gemini_content_whose_text_pushes_it_over_the_request_limit_is_refused():
    video = Video(_padded_mp4(21 * MB))
    text = "\u6f22" * 1_000_000  # 1,000,000 characters (the text limit), 6 bytes each as JSON
    EmbedRequest.create_content([video], limits=GEMINI_EMBEDDING_2)  # the video alone fits
    with pytest.raises(InvalidContentError) as caught:
        EmbedRequest.create_content([video, text], limits=GEMINI_EMBEDDING_2)
    message = str(caught.value)
    assert "parts[0] (video)" in message and f"parts[1] (text) {json_text_size(text):,}" in message
    assert "31,457,280 bytes (30 MB)" in message and isinstance(caught.value, InputError)


def test_the_limit_is_inclusive():
    limit = 1000 + REQUEST_ENVELOPE_BYTES
    assert check_request_size([("a", 600), ("b", 400)], limit, model="m", error=InputError) == limit
    with pytest.raises(InputError, match=r"a 600 \+ b 401"):
        check_request_size([("a", 600), ("b", 401)], limit, model="m", error=InputError)


@pytest.mark.parametrize("text", ['plain "quoted" \\ text\nline\ttab', "\u6f22\u5b57 caf\u00e9 \U0001f600", "\x01\x1f"])
def test_part_sizes_are_what_the_json_body_carries(text, png_bytes):
    assert json_text_size(text) == len(json.dumps(text))  # what google-genai's json.dumps sends
    for n in (0, 1, 2, 3, 4, 100):
        assert base64_size(n) == len(base64.b64encode(bytes(n)))
    # The whole body is the parts plus less than the envelope allowance, for both shapes.
    content = EmbedRequest.create_content([text, Image(png_bytes)], limits=GEMINI_EMBEDDING_2)
    assert content.content is not None
    parts = json_text_size(content.content[0].text or "") + base64_size(len(png_bytes))
    body = len(json.dumps(build_embed_content_body(content)))
    assert parts <= body <= parts + REQUEST_ENVELOPE_BYTES
    jpeg = image_bytes("JPEG", size=(16, 16))
    predict = EmbedRequest.create(image=Image(jpeg), contextual_text=text, dimension=512)
    body = len(json.dumps({"instances": [build_instance(predict)], "parameters": build_parameters(predict)}))
    parts = json_text_size(text) + base64_size(len(jpeg))
    assert parts <= body <= parts + REQUEST_ENVELOPE_BYTES


def test_gemini_sends_image_and_video_as_separate_requests_so_their_sum_is_not_refused(bmp_10mb, emulator):
    from vertex_mm import get_embedder

    video = _padded_mp4(15 * MB)  # with the image, over 30 MB as one request; gemini sends two
    embedder = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    try:
        before = emulator.stats()["requests"]
        response = embedder.get_embeddings(image=Image(bmp_10mb), video=Video(video))
        assert response.image_embedding and response.video_embeddings
        assert emulator.stats()["requests"] - before >= 2  # each part in its own request
    finally:
        embedder.close()


def test_local_backends_send_no_request_so_the_request_limit_does_not_apply(bmp_10mb):
    from vertex_mm import get_embedder

    video = _padded_mp4(15 * MB)
    embedder = get_embedder("hashed")
    assert embedder.limits.max_request_bytes < base64_size(len(bmp_10mb)) + base64_size(len(video))
    response = embedder.get_embeddings(image=Image(bmp_10mb), video=Video(video))
    assert response.image_embedding and response.video_embeddings
