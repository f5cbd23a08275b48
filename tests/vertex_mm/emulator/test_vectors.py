"""Where the emulator's vectors come from, and how Gemini dimensions map onto a backend's."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm import Image
from vertex_mm.emulator import VectorService
from vertex_mm.emulator.vectors import _backend_dimension
from vertex_mm.errors import MissingDependencyError, WeightsNotFoundError
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.testing import HashedEmbedder
from vertex_mm.wire import EmbedRequest


class FixedDimensionEmbedder(HashedEmbedder):
    """Hashed vectors, but only at multimodalembedding@001's dimensions (like the local backend)."""

    dimension_free = False
    thread_safe = False


def _missing() -> HashedEmbedder:
    raise MissingDependencyError('the local backend needs its extra: pip install "vertex-mm[local]"')


def test_auto_falls_back_to_hashed_and_says_why():
    service = VectorService(backend="auto", local_factory=_missing)
    assert service.backend_name == "pending"
    service.resolve()
    assert service.backend_name == "hashed"
    assert "vertex-mm[local]" in service.fallback_reason


def test_auto_also_falls_back_when_weights_are_missing():
    def no_weights() -> HashedEmbedder:
        raise WeightsNotFoundError("weights not found in /nowhere")

    service = VectorService(backend="auto", local_factory=no_weights)
    assert service.resolve().backend == "hashed"


def test_an_explicit_local_backend_does_not_fall_back():
    with pytest.raises(MissingDependencyError):
        VectorService(backend="local", local_factory=_missing).resolve()


def test_a_given_embedder_wins():
    emb = FixedDimensionEmbedder()
    assert VectorService(emb, backend="local", local_factory=_missing).resolve() is emb


@pytest.mark.parametrize(
    "wanted, video, expected",
    [(768, False, 512), (3072, False, 1408), (1000, False, 512), (512, False, 512), (100, False, 128), (3072, True, 1408)],
)
def test_gemini_dimensions_map_to_the_largest_the_backend_offers_below(wanted, video, expected):
    assert _backend_dimension(FixedDimensionEmbedder(), wanted, video=video) == expected


def test_a_dimension_free_backend_is_asked_for_the_exact_dimension():
    assert _backend_dimension(HashedEmbedder(), 777, video=False) == 777


def test_padding_up_to_a_gemini_dimension_keeps_cosine_similarities(png_bytes, jpeg_bytes):
    service = VectorService(FixedDimensionEmbedder())
    reference = FixedDimensionEmbedder()

    def gemini(data: bytes) -> np.ndarray:
        return service.embed_content(EmbedRequest.create(image=Image(data), dimension=768, limits=GEMINI_EMBEDDING_2))

    a, b = gemini(png_bytes), gemini(jpeg_bytes)
    ra = reference.get_embeddings(image=Image(png_bytes), dimension=512).image_embedding
    rb = reference.get_embeddings(image=Image(jpeg_bytes), dimension=512).image_embedding
    assert a.shape == (768,) and a.dtype == np.float32
    assert not a[512:].any()  # zero padding
    assert float(np.dot(a, b)) == pytest.approx(float(np.dot(ra, rb)), abs=1e-6)


def test_a_fused_vector_is_the_normalised_mean_of_its_parts(png_bytes):
    service = VectorService(HashedEmbedder())
    request = EmbedRequest.create(image=Image(png_bytes), contextual_text="x", dimension=256, limits=GEMINI_EMBEDDING_2)
    parts = HashedEmbedder().get_embeddings(image=Image(png_bytes), contextual_text="x", dimension=256)
    mean = (np.asarray(parts.image_embedding) + np.asarray(parts.text_embedding)) / 2
    np.testing.assert_allclose(service.embed_content(request), mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-7)
