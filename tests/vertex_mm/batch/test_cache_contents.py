"""The cache with contents on backends whose contents live in another space than their images
and texts (local, hashed: @001's 128..1408 for images and texts, gemini-embedding-2's 128..3072
for contents); and a cache key that cannot be made is that input's error, not the batch's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from batch_doubles import BatchingEmbedder, RecordsBatches

from vertex_mm.errors import BatchError, InvalidDimensionError
from vertex_mm.jobs import EmbeddingCache
from vertex_mm.testing import HashedEmbedder


class BatchingHashed(RecordsBatches, HashedEmbedder):
    """The hashed backend batching inference itself, as the local backend does (its own
    ``_predict_many``): the engine's chunked path, where the cache is split off before the batch."""

    def __init__(self, **batch: Any) -> None:
        super().__init__()
        self.batches = []
        if batch:
            self.configure_batch(**batch)


@pytest.mark.parametrize("dimension", [None, 768])  # None: the content default, 3072
def test_contents_are_cached_at_the_content_dimensions(tmp_path, dimension):
    """Every cached content failed with "dimension=3072 is not supported ... by multimodalembedding@001"."""
    cache = tmp_path / "c.sqlite"
    first = HashedEmbedder().configure_batch(cache=cache)
    a = first.embed_contents(["a cat", "a dog"], dimension=dimension)
    assert a.shape == (2, dimension or 3072)
    again = HashedEmbedder().configure_batch(cache=cache)
    b = again.embed_contents(["a cat", "a dog"], dimension=dimension)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert again.batch.cache.hits == 2
    np.testing.assert_array_equal(b[0], HashedEmbedder().embed_content("a cat", dimension=dimension))


def test_a_backend_that_batches_itself_caches_contents(tmp_path):
    """On the local backend the whole call raised, not one error per input."""
    emb = BatchingHashed(cache=tmp_path / "c.sqlite")
    out = emb.embed_contents(["a cat", "a dog", "a cat"], task="retrieval_document")
    assert out.shape == (3, 3072) and emb.batches == [2]  # the repeated content asked once
    again = emb.embed_contents(["a cat", "a dog", "a bird"], task="retrieval_document")
    assert emb.batches == [2, 1]
    np.testing.assert_array_equal(again[:2], out[:2])


def test_contents_and_texts_of_one_cache_keep_apart(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        emb = HashedEmbedder().configure_batch(cache=cache)
        text = emb.embed_texts(["a cat"], dimension=128)
        content = emb.embed_contents(["a cat"], dimension=128)
        query = emb.embed_contents(["a cat"], dimension=128, task="retrieval_query")
        assert len(cache) == 3
    assert not np.array_equal(text[0], query[0])
    assert not np.array_equal(content[0], query[0])  # the task formats the text: another vector


class KeyFails(BatchingEmbedder):
    """A backend whose cache key cannot be made for one input."""

    def _cache_key(self, request: Any) -> str:
        if request.text == "bad":
            raise InvalidDimensionError("no space for this one", input_name="bad")
        return super()._cache_key(request)


def test_a_cache_key_that_cannot_be_made_fails_that_input_only(tmp_path):
    emb = KeyFails(cache=tmp_path / "c.sqlite")
    out = emb.embed_texts(["a", "bad", "c"], dimension=128, errors="collect")
    assert isinstance(out.errors[1], InvalidDimensionError)
    assert out.errors[0] is None and out.errors[2] is None
    assert np.isnan(out[1]).all() and not np.isnan(out[[0, 2]]).any()
    with pytest.raises(BatchError, match="1 of 3 inputs failed"):
        emb.embed_texts(["a", "bad", "c"], dimension=128)
