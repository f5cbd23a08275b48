"""Contents through the Beam records (no Beam needed): elements become content inputs with
stable ids, and a content's row carries its one vector."""

from __future__ import annotations

import pytest
from factories import image_bytes, pdf_bytes

from vertex_mm import Document, Image
from vertex_mm.beam.records import embedding_row, to_embed_input
from vertex_mm.errors import InvalidImageError
from vertex_mm.testing import HashedEmbedder


def test_a_list_of_parts_is_one_content_with_an_id_from_its_parts():
    parts = ["a chart", Image(image_bytes("PNG"), name="chart.png")]
    item = to_embed_input(parts, "content")
    assert item.kind == "content" and item.content == parts
    assert item.id.startswith("content:") and item.id == to_embed_input(list(parts), "content").id


def test_a_dict_carries_its_id_and_metadata():
    item = to_embed_input({"id": "doc-1", "content": ["text", Document(pdf_bytes(1))], "lang": "en"}, "content")
    assert (item.id, dict(item.metadata)) == ("doc-1", {"lang": "en"})


def test_a_content_row_holds_the_content_vector():
    emb = HashedEmbedder()
    item = to_embed_input({"id": "x", "content": ["hello", Image(image_bytes())]}, "content")
    request = item.build(emb, 128, "retrieval_document")
    row = embedding_row(item, emb._predict(request), emb.content_space(128, task="retrieval_document"))
    assert len(row["embedding"]) == 128 and row["embedding_space"] == "hashed/sha256/128;task=retrieval_document"


def test_a_bad_content_is_its_own_typed_error_when_built():
    item = to_embed_input([Image(image_bytes())] * 7, "content")
    with pytest.raises(InvalidImageError, match="7 images"):
        item.build(HashedEmbedder(), 128)


def test_parts_of_different_kinds_or_boundaries_get_different_ids():
    # A text "cat.jpg" and Path("cat.jpg"), or ["a\0b"] and ["a", "b"], shared an id, and a sink
    # keyed on ids (Vector Search) kept one of them.
    import pathlib

    pairs = [(["a caption", "cat.jpg"], ["a caption", pathlib.Path("cat.jpg")]),
             (["a\x00b"], ["a", "b"]),
             (["gs://bkt/cat.jpg"], [Image(gcs_uri="gs://bkt/cat.jpg")])]
    for one, other in pairs:
        assert to_embed_input(one, "content").id != to_embed_input(other, "content").id, (one, other)


def test_a_long_single_text_content_gets_a_short_hash_id():
    item = to_embed_input("word " * 2000, "content")
    assert item.id.startswith("sha256:") and len(item.id) < 40
