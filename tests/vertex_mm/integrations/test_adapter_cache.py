"""``cache=`` on the adapters of the backends that embed contents on this machine (hashed,
local): every query and document is a content there, and each failed with "dimension=3072 is
not supported ... by multimodalembedding@001" once a cache was set."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.integrations.langchain import VertexMMEmbeddings
from vertex_mm.integrations.llama_index import VertexMMMultiModalEmbedding

TEXTS = ["a cat on a sofa", "a rocket launch"]


def test_langchain_and_llama_index_answer_from_one_cache_file_on_the_hashed_backend(tmp_path, photos):
    cache = tmp_path / "c.sqlite"
    lc = VertexMMEmbeddings("hashed", cache=cache)
    docs = lc.embed_documents(TEXTS)
    query = lc.embed_query(TEXTS[0])
    image = lc.embed_image([str(photos[0])])[0]
    assert {len(v) for v in [*docs, query, image]} == {3072}
    assert len(lc.embedder.batch.cache) == 4  # two documents, a query, an image
    again = VertexMMEmbeddings("hashed", cache=cache)
    np.testing.assert_array_equal(again.embed_documents(TEXTS), docs)
    assert again.embedder.batch.cache.hits == 2
    li = VertexMMMultiModalEmbedding("hashed", cache=cache, dimension=768)
    assert len(li.get_text_embedding_batch(TEXTS)[0]) == 768
    assert len(li.get_query_embedding(TEXTS[0])) == 768


@pytest.mark.slow
def test_the_local_backend_with_a_cache_answers_queries_documents_and_images(tmp_path, photos):
    lc = VertexMMEmbeddings("local", cache=tmp_path / "c.sqlite", dimension=768)
    try:
        docs = lc.embed_documents(TEXTS)
        query = lc.embed_query("a cat")
        image = lc.embed_image([str(photos[0])])[0]
        assert {len(v) for v in [*docs, query, image]} == {768}
        np.testing.assert_array_equal(lc.embed_documents(TEXTS), docs)
        assert lc.embedder.batch.cache.hits == 2
    finally:
        lc.embedder.close()
