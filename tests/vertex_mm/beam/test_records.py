"""Inputs and rows of the Beam transforms: pure Python, no Beam needed."""

from __future__ import annotations

import hashlib
import pathlib

import pytest
from factories import image_bytes

from vertex_mm import Image
from vertex_mm.beam.records import (
    DEAD_LETTER_FIELDS,
    EMBEDDING_FIELDS,
    EmbedInput,
    dead_letter_row,
    embedding_row,
    fallback_id,
    to_embed_input,
)
from vertex_mm.errors import ImageTooLargeError, InputError, QuotaExceededError
from vertex_mm.results import EmbeddingSpace, MultiModalEmbeddingResponse


def test_gcs_uri_is_its_own_id_and_is_not_read():
    item = to_embed_input("gs://bucket/cats/a.jpg", "image")
    assert item == EmbedInput("gs://bucket/cats/a.jpg", "image", "gs://bucket/cats/a.jpg", {})


def test_local_path_and_pathlib_path_give_the_path_as_id(tmp_path):
    path = tmp_path / "a.jpg"
    assert to_embed_input(str(path), "image").id == str(path)
    item = to_embed_input(path, "image")
    assert item.id == str(path) and item.content == str(path)


def test_bytes_get_a_content_hash_id():
    data = image_bytes()
    item = to_embed_input(data, "image")
    assert item.id == "sha256:" + hashlib.sha256(data).hexdigest()[:16]
    assert item.content == data


def test_image_object_keeps_its_uri_or_name():
    assert to_embed_input(Image(gcs_uri="gs://bucket/x.png"), "image").id == "gs://bucket/x.png"
    assert to_embed_input(Image(image_bytes=image_bytes(), name="cat"), "image").id == "cat"


def test_dict_carries_id_and_metadata_and_merges_other_keys():
    item = to_embed_input({"id": 7, "uri": "gs://bucket/x.jpg", "metadata": {"a": 1}, "label": "cat"}, "image")
    assert item.id == "7"
    assert item.content == "gs://bucket/x.jpg"
    assert item.metadata == {"a": 1, "label": "cat"}


def test_dict_without_id_uses_the_content():
    assert to_embed_input({"path": "/data/x.jpg"}, "image").id == "/data/x.jpg"
    assert to_embed_input({"text": "a cat"}, "text").id == "a cat"


def test_long_text_gets_a_hash_id_not_the_text():
    text = "word " * 100
    assert to_embed_input(text, "text").id.startswith("sha256:")


@pytest.mark.parametrize(
    "element, kind, message",
    [
        ({"id": "x"}, "image", "needs exactly one of"),
        ({"id": "x", "image": "gs://bucket/a", "uri": "gs://bucket/b"}, "image", r"found \['image', 'uri'\]"),
        ({"id": "x", "text": "hi", "metadata": ["not", "a", "dict"]}, "text", "'metadata' must be a dict"),
        (42, "image", "cannot use int as an image"),
        (b"abc", "text", "a text input must be a str"),
    ],
)
def test_unusable_elements_raise_a_typed_input_error(element, kind, message):
    with pytest.raises(InputError, match=message):
        to_embed_input(element, kind)


def test_fallback_id_names_the_element():
    assert fallback_id({"id": "row-9", "x": 1}) == "row-9"
    assert fallback_id(42) == "42"


def test_request_names_bytes_after_the_id_so_errors_say_which_input():
    request = to_embed_input({"id": "cat-1", "bytes": image_bytes()}, "image").request(512)
    assert request["image"].name == "cat-1" and request["dimension"] == 512 and request["key"] == "cat-1"
    assert to_embed_input("hello", "text").request(None) == {"contextual_text": "hello", "dimension": None, "key": "hello"}


def test_num_bytes_reads_the_file_size(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"0" * 997)
    assert to_embed_input(path, "image").num_bytes() == 1000
    assert to_embed_input(b"12345", "image").num_bytes() == 5


def test_num_bytes_of_contents_sums_their_parts_and_never_raises(tmp_path):
    photo = tmp_path / "a.jpg"
    photo.write_bytes(image_bytes())
    size = len(image_bytes())
    assert EmbedInput("t", "content", "hello", {}).num_bytes() == 5  # a text, not a file name
    assert EmbedInput("c", "content", ["hi", photo, b"xyz"], {}).num_bytes() == 2 + size + 3  # not len(repr)
    assert EmbedInput("n", "image", "scans/a\x00b.jpg", {}).num_bytes() == 0  # ValueError, not a failed batch


def test_embedding_row_has_the_documented_keys_and_plain_floats():
    space = EmbeddingSpace("vertex", "multimodalembedding@001", 3)
    response = MultiModalEmbeddingResponse(image_embedding=[0.5, 0.25, 1.0], space=space)
    row = embedding_row(EmbedInput("a", "image", "gs://bucket/a", {"k": "v"}), response, space)
    assert tuple(row) == EMBEDDING_FIELDS
    assert row == {"id": "a", "embedding": [0.5, 0.25, 1.0], "embedding_space": space.id, "metadata": {"k": "v"}}
    assert all(type(x) is float for x in row["embedding"])


def test_embedding_row_refuses_a_response_without_the_vector():
    space = EmbeddingSpace("vertex", "m", 2)
    with pytest.raises(ValueError, match="no text embedding"):
        embedding_row(EmbedInput("a", "text", "hi", {}), MultiModalEmbeddingResponse(image_embedding=[1, 2]), space)


def test_dead_letter_row_keeps_the_typed_error():
    row = dead_letter_row("a", QuotaExceededError("quota", status_code=429), stage="embed", source="gs://bucket/a",
                          metadata={"k": 1})
    assert tuple(row) == DEAD_LETTER_FIELDS
    assert row == {"id": "a", "error_type": "QuotaExceededError", "error": "quota", "retryable": True,
                   "status_code": 429, "stage": "embed", "source": "gs://bucket/a", "metadata": {"k": 1}}
    row = dead_letter_row("b", ImageTooLargeError("b: 21 MB", input_name="b"), stage="embed")
    assert (row["error_type"], row["retryable"], row["status_code"]) == ("ImageTooLargeError", False, None)


def test_dead_letter_row_from_a_foreign_exception_is_not_retryable():
    row = dead_letter_row("a", "RuntimeError('boom')", stage="batch", error_type="RuntimeError")
    assert (row["error_type"], row["error"], row["retryable"]) == ("RuntimeError", "RuntimeError('boom')", False)


@pytest.mark.parametrize("exc_type, retryable", [(QuotaExceededError, True), (ImageTooLargeError, False),
                                                 (RuntimeError, False)])
def test_a_failed_batch_marks_its_rows_retryable_by_the_exception_type(exc_type, retryable):
    """RunInference hands over the type and repr of a batch's exception; every row said
    retryable=False, so a quota that outlasted the retries looked like bad input."""
    pytest.importorskip("apache_beam")  # the transforms need Beam (tests/vertex_mm/beam/test_beam_venv.py)
    from vertex_mm.beam.transforms import _explode_failed_batch

    batch = [to_embed_input({"id": "a", "text": "x"}, "text"), to_embed_input({"id": "b", "text": "y"}, "text")]
    rows = list(_explode_failed_batch((batch, (exc_type, f"{exc_type.__name__}('boom')", None))))
    assert [(r["id"], r["stage"], r["error_type"], r["retryable"]) for r in rows] == [
        ("a", "batch", exc_type.__name__, retryable), ("b", "batch", exc_type.__name__, retryable)]


def test_pathlib_pure_path_is_accepted():
    assert to_embed_input(pathlib.PurePosixPath("/x/y.jpg"), "image").content == "/x/y.jpg"
