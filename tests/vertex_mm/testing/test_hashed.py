"""HashedEmbedder: deterministic, unit-norm, any dimension, and no torch."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys

import numpy as np
import pytest

from vertex_mm import Image, Video, VideoSegmentConfig
from vertex_mm.errors import InvalidDimensionError, InvalidVideoError
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.testing import HashedEmbedder, hashed_vector, probe_video_duration


def test_same_content_gives_the_same_vector_in_a_fresh_embedder(png_bytes):
    a = HashedEmbedder().get_embeddings(image=Image(png_bytes), contextual_text="a cat")
    b = HashedEmbedder().get_embeddings(image=Image(png_bytes), contextual_text="a cat")
    assert a.image_embedding == b.image_embedding
    assert a.text_embedding == b.text_embedding


def test_vectors_are_unit_norm_float32_of_the_requested_dimension(jpeg_bytes):
    for dim in (128, 256, 512, 1408):
        r = HashedEmbedder().get_embeddings(image=Image(jpeg_bytes), contextual_text="x", dimension=dim)
        for vec in (r.image_embedding, r.text_embedding):
            arr = np.asarray(vec, dtype=np.float32)
            assert arr.shape == (dim,)
            assert np.linalg.norm(arr) == pytest.approx(1.0, abs=1e-5)
        assert r.space.dimension == dim


def test_different_content_gives_nearly_orthogonal_vectors(png_bytes, jpeg_bytes):
    r1 = HashedEmbedder().get_embeddings(image=Image(png_bytes), contextual_text="a cat")
    r2 = HashedEmbedder().get_embeddings(image=Image(jpeg_bytes), contextual_text="a dog")
    assert abs(np.dot(r1.image_embedding, r2.image_embedding)) < 0.2
    assert abs(np.dot(r1.text_embedding, r2.text_embedding)) < 0.2
    # The same bytes as image and as text do not collide either.
    assert abs(np.dot(r1.image_embedding, r1.text_embedding)) < 0.2


def test_a_longer_vector_starts_with_the_shorter_one_before_renormalising():
    long, short = hashed_vector(b"key", 3072), hashed_vector(b"key", 128)
    head = long[:128] / np.linalg.norm(long[:128])
    np.testing.assert_allclose(head, short, rtol=1e-5, atol=1e-6)


def test_vectors_are_sha256_counter_mode_and_fixed_across_versions():
    # Reference: words of sha256(sha256(key) || counter), big-endian, mapped to [-1, 1), normalised.
    seed = hashlib.sha256(b"text\x00a cat").digest()
    words = struct.unpack(">8I", hashlib.sha256(seed + b"\x00\x00\x00\x00").digest())[:4]
    raw = np.array([w / 2.0**31 - 1.0 for w in words])
    expected = raw / np.linalg.norm(raw)
    np.testing.assert_allclose(hashed_vector(b"text\x00a cat", 4), expected, rtol=1e-6)
    # Recorded once: caches and golden files rely on these never drifting.
    np.testing.assert_allclose(expected, [-0.85992754, 0.03742741, 0.18757194, -0.47322366], rtol=1e-6)
    text = HashedEmbedder().get_embeddings(contextual_text="a cat", dimension=128).text_embedding
    np.testing.assert_allclose(text, hashed_vector(b"text\x00a cat", 128), rtol=1e-6)


def test_limits_decide_what_get_embeddings_accepts():
    with pytest.raises(InvalidDimensionError, match="allowed: 128, 256, 512, 1408"):
        HashedEmbedder().get_embeddings(contextual_text="x", dimension=768)
    r = HashedEmbedder(limits=GEMINI_EMBEDDING_2).get_embeddings(contextual_text="x", dimension=768)
    assert len(r.text_embedding) == 768


def test_video_segments_follow_the_config_clipped_to_the_real_duration(mp4_10s):
    assert probe_video_duration(mp4_10s) == pytest.approx(10.0, abs=0.6)
    r = HashedEmbedder().get_embeddings(video=Video(mp4_10s), video_segment_config=VideoSegmentConfig(0, 120, 4))
    spans = [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings]
    assert spans[:2] == [(0, 4), (4, 8)]
    assert spans[-1][0] == 8 and spans[-1][1] == pytest.approx(10.0, abs=0.6)
    vectors = [v.embedding for v in r.video_embeddings]
    assert len({tuple(v) for v in vectors}) == len(vectors)  # each segment its own vector


def test_undecodable_video_is_a_typed_error():
    fake_mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
    with pytest.raises(InvalidVideoError, match="cannot be decoded"):
        HashedEmbedder().get_embeddings(video=Video(fake_mp4))


def test_a_segment_start_beyond_the_video_is_a_typed_error(mp4_10s):
    with pytest.raises(InvalidVideoError, match="beyond the end of the video"):
        HashedEmbedder().get_embeddings(video=Video(mp4_10s), video_segment_config=VideoSegmentConfig(20, 40, 4))


def test_gcs_inputs_hash_their_uri():
    a = HashedEmbedder().get_embeddings(image=Image(gcs_uri="gs://bucket/cat.jpg"))
    b = HashedEmbedder().get_embeddings(image=Image(gcs_uri="gs://bucket/dog.jpg"))
    assert a.image_embedding != b.image_embedding


def test_importing_it_does_not_import_torch():
    code = "import vertex_mm.testing.hashed, vertex_mm.emulator, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
