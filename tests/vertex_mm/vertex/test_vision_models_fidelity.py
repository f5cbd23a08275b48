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
def real(emulator, vertexai_global_config) -> Any:
    import vertexai
    from vertexai.vision_models import MultiModalEmbeddingModel

    vertexai.init(project="test-project", location="us-central1", api_endpoint=emulator.url,
                  api_transport="rest", credentials=AnonymousCredentials())
    return MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001")


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
