"""vertex-mm's own clients (vertex, the vision_models facade, gemini) against the emulator,
including how every service failure maps onto vertex_mm.errors."""

from __future__ import annotations

import numpy as np
import pytest

import vertex_mm
from vertex_mm import BatchError, Image, Video, VideoSegmentConfig, get_embedder
from vertex_mm.emulator import run_emulator
from vertex_mm.errors import (
    InvalidArgumentError,
    InvalidImageError,
    NotFoundError,
    QuotaExceededError,
    ServiceUnavailableError,
    TransportError,
)


@pytest.fixture
def vertex(emulator):
    emb = get_embedder("vertex", api_endpoint=emulator.url, retry="none", requests_per_minute=None)
    yield emb
    emb.close()


@pytest.fixture
def gemini(emulator):
    emb = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    yield emb
    emb.close()


@pytest.mark.parametrize("dimension", [128, 256, 512, 1408])
def test_vertex_get_embeddings_at_each_dimension(vertex, hashed, png_bytes, dimension):
    r = vertex.get_embeddings(image=Image(png_bytes), contextual_text="green", dimension=dimension)
    expected = hashed.get_embeddings(image=Image(png_bytes), contextual_text="green", dimension=dimension)
    np.testing.assert_allclose(r.image_embedding, expected.image_embedding, rtol=1e-6)
    np.testing.assert_allclose(r.text_embedding, expected.text_embedding, rtol=1e-6)
    assert r.space.id == f"vertex/multimodalembedding@001/{dimension}"


def test_vertex_embed_images_from_files_keeps_input_order(vertex, hashed, tmp_path, png_bytes, jpeg_bytes):
    paths = []
    for i, data in enumerate([png_bytes, jpeg_bytes, png_bytes]):
        paths.append(tmp_path / f"img{i}.{'png' if data is png_bytes else 'jpg'}")
        paths[-1].write_bytes(data)
    vecs = vertex.embed_images(paths, dimension=256)
    assert vecs.shape == (3, 256) and vecs.space.id == "vertex/multimodalembedding@001/256"
    for row, data in zip(vecs, [png_bytes, jpeg_bytes, png_bytes]):
        np.testing.assert_allclose(row, hashed.get_embeddings(image=Image(data), dimension=256).image_embedding, rtol=1e-6)


def test_vertex_embed_texts(vertex, hashed):
    vecs = vertex.embed_texts(["a cat", "a dog"], dimension=128)
    np.testing.assert_allclose(vecs[1], hashed.get_embeddings(contextual_text="a dog", dimension=128).text_embedding, rtol=1e-6)


def test_vertex_video_with_segments(vertex, mp4_10s):
    r = vertex.get_embeddings(video=Video(mp4_10s), video_segment_config=VideoSegmentConfig(0, 10, 5))
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 5), (5, 10)]
    assert r.as_array("video").shape == (2, 1408)


def test_the_vision_models_facade(emulator, hashed, jpeg_bytes):
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001", api_endpoint=emulator.url)
    r = model.get_embeddings(image=Image(jpeg_bytes), contextual_text="red", dimension=512)
    expected = hashed.get_embeddings(image=Image(jpeg_bytes), dimension=512).image_embedding
    np.testing.assert_allclose(r.image_embedding, expected, rtol=1e-6)


def test_a_bad_image_fails_before_the_network(vertex, emulator):
    with pytest.raises(InvalidImageError):
        vertex.get_embeddings(image=Image(b"GIF89a-but-truncated"))
    assert emulator.stats()["requests"] == 0


def test_service_400_is_invalid_argument():
    # Client-side checks pass (the request is well formed) but the service refuses it.
    with run_emulator(backend="hashed", max_request_bytes=1024) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url)
        with pytest.raises(InvalidArgumentError, match="Request payload size exceeds the limit: 1024 bytes") as info:
            emb.get_embeddings(contextual_text="x" * 2000)
    assert info.value.status_code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert not info.value.retryable


def test_injected_quota_429_is_quota_exceeded_with_retry_after(vertex, emulator):
    emulator.set_faults(quota_rpm=1)
    vertex.get_embeddings(contextual_text="first")
    with pytest.raises(QuotaExceededError, match="Quota exceeded") as info:
        vertex.get_embeddings(contextual_text="second")
    assert 59 <= info.value.retry_after <= 60
    assert info.value.retryable


def test_injected_503_is_service_unavailable(vertex, emulator):
    emulator.set_faults(fault_rate_503=1.0)
    with pytest.raises(ServiceUnavailableError) as info:
        vertex.get_embeddings(contextual_text="x")
    assert info.value.retryable and info.value.retry_after == 1.0


def test_dropped_connection_is_a_transport_error(vertex, emulator):
    emulator.set_faults(drop_rate=1.0)
    with pytest.raises(TransportError):
        vertex.get_embeddings(contextual_text="x")
    assert emulator.stats()["dropped"] == 1


def test_a_stopped_emulator_is_a_transport_error(emulator):
    emb = get_embedder("vertex", api_endpoint=emulator.url, retry="none", requests_per_minute=None)
    emulator.stop()
    with pytest.raises(TransportError):
        emb.get_embeddings(contextual_text="x")


def test_an_unknown_model_is_not_found(emulator):
    emb = get_embedder("vertex", api_endpoint=emulator.url, model="multimodalembedding@009")
    with pytest.raises(NotFoundError, match="multimodalembedding@009"):
        emb.get_embeddings(contextual_text="x")


def test_batch_errors_are_per_item_and_the_rest_goes_on(vertex, emulator):
    emulator.set_faults(fault_rate_503=0.5, seed=4)
    vecs = vertex.embed_texts([f"text {i}" for i in range(12)], dimension=128, errors="collect")
    failed = vecs.failed
    assert 0 < len(failed) < 12
    assert all(isinstance(e, ServiceUnavailableError) for e in failed.values())
    assert np.isfinite(np.asarray(vecs)[vecs.ok]).all()
    assert emulator.stats()["503"] == len(failed)


# -- gemini ------------------------------------------------------------------------------------


def test_gemini_get_embeddings_gives_one_vector_per_modality(gemini, png_bytes):
    r = gemini.get_embeddings(image=Image(png_bytes), contextual_text="green", dimension=768)
    assert len(r.image_embedding) == len(r.text_embedding) == 768
    assert r.space.id == "gemini/gemini-embedding-2/768"
    assert abs(np.dot(r.image_embedding, r.text_embedding)) < 0.2  # separate vectors, not one fused


def test_gemini_embed_fused_is_embed_content_of_text_then_image(gemini, hashed, png_bytes):
    fused = gemini.embed_fused(image=Image(png_bytes), contextual_text="green", dimension=256)
    np.testing.assert_allclose(fused, gemini.embed_content(["green", Image(png_bytes)], dimension=256), rtol=1e-6)
    np.testing.assert_allclose(fused, hashed.embed_content(["green", Image(png_bytes)], dimension=256), rtol=1e-5)


def test_gemini_default_dimension_is_3072_also_for_video(gemini, mp4_10s):
    r = gemini.get_embeddings(video=Video(mp4_10s))
    assert len(r.video_embeddings) == 1
    v = r.video_embeddings[0]
    assert v.start_offset_sec == 0.0 and len(v.embedding) == 3072
    assert v.end_offset_sec == pytest.approx(10.0, abs=0.1)  # measured (PyAV), not inf


def test_gemini_warns_when_the_emulator_reports_a_truncated_content(gemini):
    with pytest.warns(UserWarning, match="truncated a content to its first 8192 tokens"):
        gemini.embed_content("beach " * 10_000, dimension=128)


def test_gemini_embed_texts(gemini):
    vecs = gemini.embed_texts(["one", "two", "three"], dimension=1536)
    assert vecs.shape == (3, 1536) and vecs.space.id == "gemini/gemini-embedding-2/1536"


@pytest.mark.parametrize(
    "faults, error",
    [
        ({"fault_rate_429": 1.0}, QuotaExceededError),
        ({"fault_rate_503": 1.0}, ServiceUnavailableError),
        ({"drop_rate": 1.0}, TransportError),
    ],
)
def test_gemini_failures_map_onto_vertex_mm_errors(gemini, emulator, faults, error):
    emulator.set_faults(**faults)
    with pytest.raises(error) as info:
        gemini.get_embeddings(contextual_text="x")
    if error is not TransportError:
        assert info.value.retry_after == 1.0


def test_gemini_service_400_is_invalid_argument(gemini):
    from vertex_mm.wire import EmbedRequest

    # Bypass the client-side check to see the service's answer to a bad dimension.
    request = EmbedRequest(text="x", dimension=5000)
    with pytest.raises(InvalidArgumentError, match="allowed: 128..3072"):
        gemini._predict(request)


def test_gemini_batch_error_carries_every_result(gemini, emulator):
    emulator.set_faults(fault_rate_503=0.5, seed=11)
    with pytest.raises(BatchError) as info:
        gemini.embed_texts([f"t{i}" for i in range(10)], dimension=128)
    assert info.value.result.shape == (10, 128)
    assert 0 < len(info.value.errors) < 10
