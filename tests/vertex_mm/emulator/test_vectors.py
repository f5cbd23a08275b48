"""Where the emulator's vectors come from, and how Gemini dimensions map onto a backend's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vertex_mm import Image
from vertex_mm.emulator import VectorService
from vertex_mm.emulator.vectors import _nearest
from vertex_mm.errors import MissingDependencyError, WeightsNotFoundError
from vertex_mm.limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001, ContentLimits
from vertex_mm.testing import HashedEmbedder
from vertex_mm.wire import EmbedRequest

#: Contents, but only at multimodalembedding@001's four dimensions.
FIXED = dataclasses.replace(MULTIMODAL_EMBEDDING_001, content=ContentLimits())


class FixedDimensionEmbedder(HashedEmbedder):
    """Hashed vectors, but contents only at four fixed dimensions."""

    thread_safe = False

    def __init__(self) -> None:
        super().__init__(content_limits=FIXED)


class TextlessEmbedder(HashedEmbedder):
    """Hashed vectors, with no model for text parts (as the local backend has none for audio)."""

    content_kinds = frozenset({"image", "video", "document", "audio"})


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


@pytest.mark.parametrize("wanted, expected", [(768, 512), (3072, 1408), (1000, 512), (512, 512), (100, 128)])
def test_gemini_dimensions_map_to_the_largest_the_backend_offers_below(wanted, expected):
    assert _nearest(FIXED, wanted) == expected


def _content(*parts, dimension=768):
    return EmbedRequest.create_content(list(parts), limits=GEMINI_EMBEDDING_2, dimension=dimension)


def test_a_backend_with_free_dimensions_is_asked_for_the_exact_dimension(png_bytes):
    got = VectorService(HashedEmbedder()).embed_content(_content(Image(png_bytes), dimension=777))
    expected = HashedEmbedder().embed_content(Image(png_bytes), dimension=777)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_padding_up_to_a_gemini_dimension_keeps_cosine_similarities(png_bytes, jpeg_bytes):
    service = VectorService(FixedDimensionEmbedder())
    reference = FixedDimensionEmbedder()
    a, b = service.embed_content(_content(Image(png_bytes))), service.embed_content(_content(Image(jpeg_bytes)))
    ra = reference.embed_content(Image(png_bytes), dimension=512)
    rb = reference.embed_content(Image(jpeg_bytes), dimension=512)
    assert a.shape == (768,) and a.dtype == np.float32
    assert not a[512:].any()  # zero padding
    assert float(np.dot(a, b)) == pytest.approx(float(np.dot(ra, rb)), abs=1e-6)


def test_parts_the_backend_cannot_embed_get_hashed_vectors_weighted_by_count(png_bytes, jpeg_bytes):
    request = _content("a caption", Image(png_bytes), Image(jpeg_bytes), dimension=256)
    own = TextlessEmbedder().embed_content([Image(png_bytes), Image(jpeg_bytes)], dimension=256)
    hashed = HashedEmbedder().embed_content("a caption", dimension=256)
    mean = (2 * own.astype(np.float64) + hashed) / 3
    got = VectorService(TextlessEmbedder()).embed_content(request)
    np.testing.assert_allclose(got, mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-7)
