"""The real, unmodified ``vertexai.vision_models`` SDK against the emulator, end to end."""

from __future__ import annotations

import numpy as np
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials

from vertex_mm import Image as VmmImage
from vertex_mm import Video as VmmVideo
from vertex_mm import VideoSegmentConfig as VmmSegments


@pytest.fixture
def model(emulator, vertexai_global_config):
    import vertexai
    from vertexai.vision_models import MultiModalEmbeddingModel

    vertexai.init(
        project="test-project",
        location="europe-west4",
        api_endpoint=emulator.url,
        api_transport="rest",
        credentials=AnonymousCredentials(),
    )
    return MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001")


def test_from_pretrained_resolves_the_publisher_model(model):
    assert model._endpoint_name == (
        "projects/test-project/locations/europe-west4/publishers/google/models/multimodalembedding@001"
    )


def test_image_and_text_embeddings_at_a_chosen_dimension(model, emulator, hashed, png_bytes):
    from vertexai.vision_models import Image

    r = model.get_embeddings(image=Image(png_bytes), contextual_text="a green square", dimension=256)
    assert len(r.image_embedding) == len(r.text_embedding) == 256
    expected = hashed.get_embeddings(image=VmmImage(png_bytes), contextual_text="a green square", dimension=256)
    np.testing.assert_allclose(r.image_embedding, expected.image_embedding, rtol=1e-6)
    np.testing.assert_allclose(r.text_embedding, expected.text_embedding, rtol=1e-6)
    assert emulator.stats()["2xx"] == 1


def test_default_dimension_is_1408(model, jpeg_bytes):
    from vertexai.vision_models import Image

    r = model.get_embeddings(image=Image(jpeg_bytes))
    assert len(r.image_embedding) == 1408
    assert r.text_embedding is None


def test_image_from_a_file_on_disk(model, tmp_path, jpeg_bytes, hashed):
    from vertexai.vision_models import Image

    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes)
    r = model.get_embeddings(image=Image.load_from_file(str(path)), dimension=128)
    expected = hashed.get_embeddings(image=VmmImage(jpeg_bytes), dimension=128).image_embedding
    np.testing.assert_allclose(r.image_embedding, expected, rtol=1e-6)


def test_video_segments_with_a_segment_config(model, mp4_10s, hashed):
    from vertexai.vision_models import Video, VideoSegmentConfig

    r = model.get_embeddings(
        video=Video(mp4_10s),
        video_segment_config=VideoSegmentConfig(start_offset_sec=0, end_offset_sec=8, interval_sec=4),
        contextual_text="colours",
    )
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 4), (4, 8)]
    assert all(len(v.embedding) == 1408 for v in r.video_embeddings)
    assert len(r.text_embedding) == 1408
    expected = hashed.get_embeddings(video=VmmVideo(mp4_10s), video_segment_config=VmmSegments(0, 8, 4))
    np.testing.assert_allclose(r.video_embeddings[1].embedding, expected.video_embeddings[1].embedding, rtol=1e-6)


def test_bad_image_gets_the_sdks_400(model, emulator):
    from vertexai.vision_models import Image

    with pytest.raises(gexc.BadRequest, match="not a recognised image") as info:
        model.get_embeddings(image=Image(b"this is a text file, not an image"))
    assert info.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert emulator.stats()["4xx"] == 1


def test_unsupported_dimension_gets_the_sdks_400(model, png_bytes):
    from vertexai.vision_models import Image

    with pytest.raises(gexc.BadRequest, match="dimension=300 is not supported"):
        model.get_embeddings(image=Image(png_bytes), dimension=300)


def test_video_at_a_reduced_dimension_is_refused_like_the_service(model, mp4_10s):
    from vertexai.vision_models import Video

    with pytest.raises(gexc.BadRequest, match="with video"):
        model.get_embeddings(video=Video(mp4_10s), dimension=512)


def test_injected_quota_exhaustion_is_the_sdks_429(model, emulator, png_bytes):
    from vertexai.vision_models import Image

    emulator.set_faults(quota_rpm=1)  # one request per minute
    model.get_embeddings(image=Image(png_bytes), dimension=128)
    with pytest.raises(gexc.TooManyRequests, match="Quota exceeded") as info:
        model.get_embeddings(image=Image(png_bytes), dimension=128)
    assert int(info.value.response.headers["Retry-After"]) >= 59


def test_unknown_model_is_not_found(emulator, vertexai_global_config):
    import vertexai
    from vertexai.vision_models import MultiModalEmbeddingModel

    vertexai.init(project="p", location="us-central1", api_endpoint=emulator.url, api_transport="rest",
                  credentials=AnonymousCredentials())
    with pytest.raises(gexc.NotFound, match="imagen-embedding@999"):
        MultiModalEmbeddingModel.from_pretrained("imagen-embedding@999")
