"""How ``vertex-mm search`` / ``serve`` embed a query for an index (``index.build.embed_query``)."""

from __future__ import annotations

import numpy as np
from factories import image_bytes

from vertex_mm.index.build import embed_query
from vertex_mm.testing import HashedEmbedder


def test_a_task_index_gets_queries_in_the_query_form_of_its_task() -> None:
    emb = HashedEmbedder()
    space = emb.content_space(256, task="retrieval_document")  # e.g. what `vertex-mm migrate` writes
    got = embed_query(emb, space, text="a red bicycle")
    want = emb.embed_contents(["a red bicycle"], dimension=256, task="retrieval_query")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    plain = emb.embed_texts(["a red bicycle"], dimension=256)
    assert not np.allclose(np.asarray(got), np.asarray(plain))  # the task form reached the model


def test_a_symmetric_task_index_is_queried_with_its_own_task() -> None:
    emb = HashedEmbedder()
    space = emb.content_space(128, task="similarity")
    got = embed_query(emb, space, text="two cats")
    want = emb.embed_contents(["two cats"], dimension=128, task="similarity")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_an_image_query_of_a_task_index_is_a_content_and_a_plain_index_keeps_the_old_calls() -> None:
    emb = HashedEmbedder()
    png = image_bytes("PNG", size=(32, 24), color=(10, 200, 30))
    task_space = emb.content_space(256, task="retrieval_document")
    got = embed_query(emb, task_space, image=png)
    assert got.shape == (1, 256) and got.space == task_space
    plain_space = emb.space(512)
    np.testing.assert_array_equal(np.asarray(embed_query(emb, plain_space, text="x")),
                                  np.asarray(emb.embed_texts(["x"], dimension=512)))
