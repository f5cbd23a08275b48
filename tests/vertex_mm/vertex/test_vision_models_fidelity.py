"""The drop-in beside the real thing: the unmodified ``vertexai.vision_models`` SDK and
``vertex_mm.MultiModalEmbeddingModel`` make the same calls on one emulator and must answer alike
(values, types, what is None, what is refused)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.auth.credentials import AnonymousCredentials

import vertex_mm
from vertex_mm import Video as VmmVideo
from vertex_mm import VideoSegmentConfig as VmmSegments


@pytest.fixture
def ours(emulator) -> Any:
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001", api_endpoint=emulator.url,
                                                               project="test-project")
    yield model
    model.embedder.close()


def _segments(response: Any) -> list[tuple[Any, Any]]:
    return [(v.start_offset_sec, v.end_offset_sec) for v in response.video_embeddings]


def test_video_offsets_are_floats_as_the_sdk_reads_them(real, ours, mp4_10s):
    from vertexai.vision_models import Video, VideoSegmentConfig

    theirs = real.get_embeddings(video=Video(mp4_10s), video_segment_config=VideoSegmentConfig(0, 8, 4))
    mine = ours.get_embeddings(video=VmmVideo(mp4_10s), video_segment_config=VmmSegments(0, 8, 4))
    assert _segments(theirs) == _segments(mine) == [(0.0, 4.0), (4.0, 8.0)]
    assert {type(x) for pair in _segments(theirs) + _segments(mine) for x in pair} == {float}
    np.testing.assert_allclose(theirs.video_embeddings[1].embedding, mine.video_embeddings[1].embedding)


@pytest.mark.parametrize(
    "segments,expected",
    [
        ((0, 300, 60), [(0.0, 60.0), (60.0, 120.0)]),  # cut to start + 120 s, not refused
        ((0, 1, 16), [(0.0, 1.0)]),  # the docs' sample: VideoSegmentConfig(end_offset_sec=1)
    ],
)
def test_segment_configs_the_sdk_sends_are_answered_alike(real, ours, segments, expected):
    from vertexai.vision_models import Video, VideoSegmentConfig

    uri = "gs://bucket/highway.mp4"  # no storage client: the emulator embeds the URI, no duration
    theirs = real.get_embeddings(video=Video(gcs_uri=uri), video_segment_config=VideoSegmentConfig(*segments))
    mine = ours.get_embeddings(video=VmmVideo(gcs_uri=uri), video_segment_config=VmmSegments(*segments))
    assert _segments(theirs) == _segments(mine) == expected


def test_empty_contextual_text_is_no_text(real, ours, png_bytes):
    from vertexai.vision_models import Image

    theirs = real.get_embeddings(image=Image(png_bytes), contextual_text="", dimension=128)
    mine = ours.get_embeddings(image=vertex_mm.Image(png_bytes), contextual_text="", dimension=128)
    assert theirs.text_embedding is None and mine.text_embedding is None
    assert theirs.video_embeddings == mine.video_embeddings == []
    np.testing.assert_allclose(theirs.image_embedding, mine.image_embedding)


def test_dimension_0_is_the_default_as_the_sdk_sends_none_for_it(real, ours):
    """``dimension=args.dim or 0`` worked with vision_models (``if dimension:``); the drop-in
    refused it."""
    theirs = real.get_embeddings(contextual_text="a red square", dimension=0)
    mine = ours.get_embeddings(contextual_text="a red square", dimension=0)
    assert len(theirs.text_embedding) == len(mine.text_embedding) == 1408
    np.testing.assert_allclose(theirs.text_embedding, mine.text_embedding)


def test_nothing_to_embed_is_the_same_value_error(real, ours, emulator):
    for model in (real, ours):
        with pytest.raises(ValueError, match="One of `image`, `video`, or `contextual_text` is required."):
            model.get_embeddings(contextual_text="")
    assert emulator.stats()["requests"] == 0


def test_text_only_leaves_image_none_and_videos_empty(real, ours):
    theirs = real.get_embeddings(contextual_text="a red square")
    mine = ours.get_embeddings(contextual_text="a red square")
    assert theirs.image_embedding is None and mine.image_embedding is None
    assert theirs.video_embeddings == mine.video_embeddings == []
    assert len(theirs.text_embedding) == len(mine.text_embedding) == 1408
    assert all(type(x) is float for x in theirs.text_embedding + mine.text_embedding)
    np.testing.assert_allclose(theirs.text_embedding, mine.text_embedding)


def test_from_pretrained_honours_vertexai_init(emulator, vertexai_global_config, png_bytes):
    import vertexai

    vertexai.init(project="init-project", location="europe-west4", api_endpoint=emulator.url,
                  api_transport="rest", credentials=AnonymousCredentials())
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001")
    try:
        assert (model.embedder.project, model.embedder.location) == ("init-project", "europe-west4")
        assert len(model.get_embeddings(image=vertex_mm.Image(png_bytes)).image_embedding) == 1408
    finally:
        model.embedder.close()
    explicit = vertex_mm.MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001", location="us-east1")
    try:
        assert explicit.embedder.location == "us-east1"  # an option given wins over vertexai.init
    finally:
        explicit.embedder.close()


def test_a_segment_config_without_a_video_is_ignored(real, ours, png_bytes):
    from vertexai.vision_models import Image, VideoSegmentConfig

    theirs = real.get_embeddings(image=Image(png_bytes), video_segment_config=VideoSegmentConfig(0, 8, 4))
    mine = ours.get_embeddings(image=vertex_mm.Image(png_bytes), video_segment_config=VmmSegments(0, 8, 4))
    assert theirs.video_embeddings == mine.video_embeddings == []
    np.testing.assert_allclose(theirs.image_embedding, mine.image_embedding)


def test_the_sdks_own_media_objects_go_into_the_drop_in(real, ours, jpeg_bytes, mp4_10s):
    from vertexai.vision_models import Image, Video, VideoSegmentConfig

    args = dict(image=Image(jpeg_bytes), video=Video(mp4_10s), contextual_text="red",
                video_segment_config=VideoSegmentConfig(start_offset_sec=2, end_offset_sec=10, interval_sec=4))
    theirs, mine = real.get_embeddings(**args), ours.get_embeddings(**args)
    assert _segments(theirs) == _segments(mine) == [(2.0, 6.0), (6.0, 10.0)]
    np.testing.assert_allclose(theirs.image_embedding, mine.image_embedding)
    np.testing.assert_allclose(theirs.text_embedding, mine.text_embedding)
    np.testing.assert_allclose(theirs.video_embeddings[0].embedding, mine.video_embeddings[0].embedding)


@pytest.mark.parametrize("variable", ["GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION"])
def test_from_pretrained_takes_the_region_from_the_sdks_variables(emulator, monkeypatch, variable):
    from google.cloud.aiplatform import initializer

    monkeypatch.setenv(variable, "asia-northeast1")
    assert initializer.global_config.location == "asia-northeast1"  # what vision_models would use
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001", api_endpoint=emulator.url)
    try:
        assert model.embedder.location == "asia-northeast1"
    finally:
        model.embedder.close()


def test_the_vertex_backend_takes_the_same_region_variables_and_an_explicit_location_wins(emulator, monkeypatch):
    from vertex_mm import get_embedder

    for var in ("GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION"):
        monkeypatch.delenv(var, raising=False)
    with get_embedder("vertex", api_endpoint=emulator.url) as plain:
        assert plain.location == "us-central1"
    monkeypatch.setenv("CLOUD_ML_REGION", "europe-west1")
    with get_embedder("vertex", api_endpoint=emulator.url) as from_ml:
        assert from_ml.location == "europe-west1"
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "europe-west4")  # read first, as aiplatform does
    with get_embedder("vertex", api_endpoint=emulator.url) as from_env, \
            get_embedder("vertex", api_endpoint=emulator.url, location="us-east4") as given:
        assert (from_env.location, given.location) == ("europe-west4", "us-east4")
        assert given.embed_texts(["a cat"], dimension=128).shape == (1, 128)
