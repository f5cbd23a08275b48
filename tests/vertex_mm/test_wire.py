"""The wire format as pure functions: requests the client builds, predictions it parses, and the
server-side parse the emulator uses — checked against payloads in the shape the service uses."""

from __future__ import annotations

import base64

import pytest
from factories import image_bytes, mp4_bytes

from vertex_mm import EmbeddingSpace, Image, Video, VideoSegmentConfig
from vertex_mm.errors import InputError, InvalidArgumentError, InvalidDimensionError, InvalidImageError
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.wire import (
    EmbedRequest,
    build_embed_content_body,
    build_embed_content_response,
    build_instance,
    build_parameters,
    build_prediction,
    parse_embed_content_body,
    parse_embed_content_response,
    parse_instance,
    parse_prediction,
)

# A prediction in the shape multimodalembedding@001 returns (vectors shortened).
RECORDED_PREDICTION = {
    "imageEmbedding": [0.0125, -0.0331, 0.0078],
    "textEmbedding": [0.0201, 0.0112, -0.0094],
    "videoEmbeddings": [
        {"startOffsetSec": 0, "endOffsetSec": 16, "embedding": [0.1, 0.2, 0.3]},
        {"startOffsetSec": 16, "endOffsetSec": 32, "embedding": [0.3, 0.2, 0.1]},
    ],
}


def test_text_and_image_bytes_instance(jpeg_bytes):
    req = EmbedRequest.create(image=Image(jpeg_bytes), contextual_text="a red square", dimension=512)
    assert build_instance(req) == {
        "image": {"bytesBase64Encoded": base64.b64encode(jpeg_bytes).decode(), "mimeType": "image/jpeg"},
        "text": "a red square",
    }
    assert build_parameters(req) == {"dimension": 512}


def test_a_video_request_at_the_default_dimension_carries_no_parameters():
    req = EmbedRequest.create(video=Video(gcs_uri="gs://bucket/c.mp4"), contextual_text="x")
    assert build_parameters(req) == {}
    assert parse_instance(build_instance(req), build_parameters(req)) == req


def test_gcs_image_instance_has_no_bytes():
    req = EmbedRequest.create(image=Image(gcs_uri="gs://bucket/cat.jpg"))
    assert build_instance(req) == {"image": {"gcsUri": "gs://bucket/cat.jpg"}}
    assert build_parameters(req) == {}  # the default dimension goes unsaid, as from vision_models


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP"])
def test_image_mime_type_is_sent_only_with_a_documented_value(fmt):
    # The API reference lists image/jpeg and image/png; vision_models sends no mimeType at all.
    req = EmbedRequest.create(image=Image(image_bytes(fmt)))
    assert set(build_instance(req)["image"]) == {"bytesBase64Encoded"}


def test_video_instance_has_no_mime_type_like_the_sdk():
    req = EmbedRequest.create(video=Video(mp4_bytes(seconds=1)))
    assert set(build_instance(req)["video"]) == {"bytesBase64Encoded"}


def test_video_instance_carries_the_segment_config():
    req = EmbedRequest.create(
        video=Video(gcs_uri="gs://bucket/clip.mp4"),
        video_segment_config=VideoSegmentConfig(start_offset_sec=0, end_offset_sec=60, interval_sec=10),
    )
    assert build_instance(req) == {
        "video": {
            "gcsUri": "gs://bucket/clip.mp4",
            "videoSegmentConfig": {"startOffsetSec": 0, "endOffsetSec": 60, "intervalSec": 10},
        }
    }


def test_parse_recorded_prediction():
    space = EmbeddingSpace("vertex", "multimodalembedding@001", 3)
    r = parse_prediction(RECORDED_PREDICTION, space)
    assert r.image_embedding == [0.0125, -0.0331, 0.0078]
    assert r.text_embedding == [0.0201, 0.0112, -0.0094]
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 16), (16, 32)]
    assert r.space is space
    assert r.as_array("video").shape == (2, 3)


def test_prediction_round_trip():
    assert build_prediction(parse_prediction(RECORDED_PREDICTION)) == RECORDED_PREDICTION


def test_server_parse_accepts_doubles_as_the_sdk_sends_them(jpeg_bytes):
    instance = {"image": {"bytesBase64Encoded": base64.b64encode(jpeg_bytes).decode()}, "text": "x"}
    req = parse_instance(instance, {"dimension": 256.0})
    assert req.dimension == 256
    assert req.image is not None and req.image.data == jpeg_bytes
    assert req.image_mime_type == "image/jpeg"


def test_server_parse_round_trips_a_client_request():
    video = Video(mp4_bytes(seconds=1))
    req = EmbedRequest.create(video=video, contextual_text="clip",
                              video_segment_config=VideoSegmentConfig(0, 8, 4))
    back = parse_instance(build_instance(req), build_parameters(req))
    assert back == req


@pytest.mark.parametrize(
    "instance,params,error,match",
    [
        ({"image": {"bytesBase64Encoded": "!!notbase64!!"}}, None, InvalidArgumentError, "not valid base64"),
        ({"image": {}}, None, InvalidArgumentError, "exactly one of"),
        ({"picture": {}}, None, InvalidArgumentError, "unknown instance fields"),
        ({"text": "x"}, {"dimension": 100}, InvalidDimensionError, "allowed: 128, 256, 512, 1408"),
        ({"image": {"bytesBase64Encoded": base64.b64encode(b"text").decode()}}, None, InvalidImageError,
         "not a recognised image"),
        ({}, None, InputError, "One of `image`, `video`, or `contextual_text` is required"),
        ("nope", None, InvalidArgumentError, "JSON object"),
    ],
)
def test_server_parse_rejects_bad_instances(instance, params, error, match):
    with pytest.raises(error, match=match):
        parse_instance(instance, params)


def test_segment_config_without_video_is_refused():
    with pytest.raises(InputError, match="without a video"):
        EmbedRequest.create(contextual_text="x", video_segment_config=VideoSegmentConfig())


def test_a_span_over_120_s_is_cut_to_start_plus_120_like_the_service():
    # API reference: "endOffsetSec is adjusted to min(startOffsetSec+120, endOffsetSec)".
    req = EmbedRequest.create(video=Video(gcs_uri="gs://bucket/c.mp4"),
                              video_segment_config=VideoSegmentConfig(30, 400, 60))
    assert req.video_segment_config == VideoSegmentConfig(30, 150, 60)
    assert build_instance(req)["video"]["videoSegmentConfig"] == {"startOffsetSec": 30, "endOffsetSec": 150,
                                                                  "intervalSec": 60}


@pytest.mark.parametrize(
    "given,expected",
    [
        ({"intervalSec": 120}, (0, 120, 120)),  # the guide's "one embedding for the first two minutes"
        ({"startOffsetSec": 1, "endOffsetSec": 5}, (1, 5, 16)),  # the Go sample: no intervalSec
        ({"endOffsetSec": 300}, (180, 300, 16)),  # no start: max(0, end - 120)
        ({"endOffsetSec": 60}, (0, 60, 16)),
        ({"startOffsetSec": 200}, (200, 320, 16)),  # no end: start + 120, cut later by the video's end
        ({"startOffsetSec": 0, "endOffsetSec": 300, "intervalSec": 30.0}, (0, 120, 30)),
    ],
)
def test_missing_segment_fields_follow_the_api_reference(given, expected):
    req = parse_instance({"video": {"gcsUri": "gs://bucket/c.mp4", "videoSegmentConfig": given}})
    c = req.video_segment_config
    assert c is not None and (c.start_offset_sec, c.end_offset_sec, c.interval_sec) == expected


def test_video_with_dimension_other_than_1408_is_refused():
    with pytest.raises(InvalidDimensionError, match="with video"):
        EmbedRequest.create(video=Video(gcs_uri="gs://bucket/c.mp4"), dimension=512)


def test_gemini_body_round_trip():
    png = image_bytes("PNG")
    req = EmbedRequest.create_content(["a chart", Image(png)], dimension=768, limits=GEMINI_EMBEDDING_2)
    body = build_embed_content_body(req)
    assert body["embedContentConfig"] == {"outputDimensionality": 768}
    assert body["content"]["parts"][0] == {"text": "a chart"}
    assert body["content"]["parts"][1]["inlineData"]["mimeType"] == "image/png"
    back = parse_embed_content_body(body, GEMINI_EMBEDDING_2)
    assert back == req


def test_gemini_body_accepts_snake_case_inline_data():
    body = {"content": {"parts": [{"inline_data": {"data": base64.b64encode(image_bytes("JPEG")).decode(),
                                                   "mime_type": "image/jpeg"}}]}}
    req = parse_embed_content_body(body, GEMINI_EMBEDDING_2)
    assert req.content is not None and req.content[0].kind == "image" and req.dimension == 3072


def test_gemini_response_round_trip():
    assert parse_embed_content_response(build_embed_content_response([1, 2.5])) == [1.0, 2.5]


def test_cache_key_depends_on_content_model_and_dimension(jpeg_bytes, png_bytes):
    a = EmbedRequest.create(image=Image(jpeg_bytes), dimension=512)
    assert a.cache_key("m") == EmbedRequest.create(image=Image(jpeg_bytes), dimension=512).cache_key("m")
    assert a.cache_key("m") != a.cache_key("other")
    assert a.cache_key("m") != EmbedRequest.create(image=Image(jpeg_bytes), dimension=128).cache_key("m")
    assert a.cache_key("m") != EmbedRequest.create(image=Image(png_bytes), dimension=512).cache_key("m")
