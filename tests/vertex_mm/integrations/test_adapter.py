"""The framework-free core of both adapters: routing, task instructions, dimensions, errors."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys

import numpy as np
import pytest

from vertex_mm import Image, get_embedder
from vertex_mm.errors import (
    BatchError,
    InputError,
    InputNotFoundError,
    InvalidDimensionError,
    InvalidTextError,
    UnsupportedInputError,
)
from vertex_mm.integrations import EmbedderAdapter, FailedInputsError, make_embedder
from vertex_mm.testing import HashedEmbedder, InMemoryTransport
from vertex_mm.vertex import VertexEmbedder


@pytest.fixture
def hashed() -> HashedEmbedder:
    return HashedEmbedder()


def _vertex() -> VertexEmbedder:
    return VertexEmbedder(transport=InMemoryTransport())


def _close(a: list[float], b: np.ndarray) -> bool:
    return np.allclose(np.asarray(a), b, atol=1e-6)


# -- routing and task instructions ----------------------------------------------------------
def test_queries_and_documents_carry_their_task_instructions_on_a_content_backend(hashed):
    adapter = EmbedderAdapter(hashed, dimension=256)
    assert _close(adapter.query("a cat"), hashed.embed_content("a cat", dimension=256, task="retrieval_query"))
    assert _close(adapter.documents(["a cat"])[0],
                  hashed.embed_content("a cat", dimension=256, task="retrieval_document"))
    assert adapter.query("a cat") != adapter.document("a cat")


def test_task_sets_both_and_a_template_is_a_free_form_instruction(hashed):
    both = EmbedderAdapter(hashed, task="similarity")
    assert both.query_task == both.document_task and both.query_task.name == "similarity"
    # A query-side preset: its documents take the document form, as the model's docs embed them.
    qa = EmbedderAdapter(hashed, task="question_answering")
    assert (qa.query_task.name, qa.document_task.name) == ("question_answering", "retrieval_document")
    assert _close(qa.document("a cat"), hashed.embed_content("a cat", task="retrieval_document"))
    custom = EmbedderAdapter(hashed, query_task="find a photo of: {content}")
    assert _close(custom.query("a cat"), hashed.embed_content("a cat", task_instruction="find a photo of: {content}"))


def test_a_task_of_none_sends_the_text_as_it_is(hashed):
    adapter = EmbedderAdapter(hashed, query_task=None, document_task=None)
    assert _close(adapter.query("a cat"), hashed.embed_content("a cat"))


def test_task_and_query_task_together_are_refused(hashed):
    with pytest.raises(InputError, match="not both"):
        EmbedderAdapter(hashed, task="similarity", query_task="retrieval_query", document_task="clustering")


def test_an_unknown_task_names_the_presets(hashed):
    with pytest.raises(InputError, match="unknown task 'nope'.*retrieval_query"):
        EmbedderAdapter(hashed, query_task="nope")


def test_images_share_the_content_space_and_get_no_task(hashed, jpeg_bytes):
    adapter = EmbedderAdapter(hashed, dimension=128)
    assert _close(adapter.image(jpeg_bytes), hashed.embed_content(Image(jpeg_bytes), dimension=128))
    assert adapter.space == hashed.content_space(128)


def test_multimodalembedding_gets_plain_text_and_image_requests_without_tasks(jpeg_bytes):
    emb = _vertex()
    adapter = EmbedderAdapter(emb, dimension=512)
    assert adapter.query_task is None and adapter.document_task is None
    assert _close(adapter.query("a cat"), emb.embed_texts(["a cat"], dimension=512)[0])
    assert _close(adapter.images([jpeg_bytes])[0], emb.embed_images([jpeg_bytes], dimension=512)[0])


def test_multimodalembedding_refuses_a_task_instead_of_ignoring_it():
    with pytest.raises(UnsupportedInputError, match="takes no task instructions.*gemini"):
        EmbedderAdapter(_vertex(), task="classification")
    with pytest.raises(UnsupportedInputError):
        EmbedderAdapter(_vertex(), query_task="question_answering")


def test_the_dimension_is_checked_when_the_adapter_is_made():
    with pytest.raises(InvalidDimensionError):
        EmbedderAdapter(_vertex(), dimension=300)


# -- inputs ---------------------------------------------------------------------------------
def test_an_image_as_path_bytes_bytesio_or_image_gives_one_vector(hashed, tmp_path, jpeg_bytes):
    path = tmp_path / "red.jpg"
    path.write_bytes(jpeg_bytes)
    adapter = EmbedderAdapter(hashed)
    rows = adapter.images([str(path), path, jpeg_bytes, io.BytesIO(jpeg_bytes), Image(jpeg_bytes)])
    assert all(r == rows[0] for r in rows)


def test_vectors_are_plain_lists_of_python_floats_in_input_order(hashed):
    rows = EmbedderAdapter(hashed, dimension=128).documents(["one", "two", "three"])
    assert [len(r) for r in rows] == [128] * 3 and all(type(x) is float for r in rows for x in r)
    expected = hashed.embed_contents(["one", "two", "three"], dimension=128, task="retrieval_document")
    assert np.allclose(np.asarray(rows), expected, atol=1e-6)


def test_no_inputs_give_no_vectors_and_no_request():
    transport = InMemoryTransport()
    adapter = EmbedderAdapter(VertexEmbedder(transport=transport))
    assert adapter.documents([]) == [] and adapter.images([]) == []
    assert asyncio.run(adapter.adocuments([])) == []
    assert transport.calls == []


# -- errors ---------------------------------------------------------------------------------
def test_failed_inputs_are_named_after_every_input_was_tried(hashed, jpeg_bytes):
    adapter = EmbedderAdapter(hashed)
    with pytest.raises(FailedInputsError) as caught:
        adapter.images([jpeg_bytes, "/no/such/cat.jpg", jpeg_bytes, b"not an image"])
    err = caught.value
    assert isinstance(err, BatchError) and isinstance(err, ValueError)
    assert str(err).startswith("2 of 4 inputs failed: #1 '/no/such/cat.jpg': InputNotFoundError")
    assert "#3 <12 bytes>: InvalidImageError" in str(err)
    assert sorted(err.errors) == [1, 3] and isinstance(err.errors[1], InputNotFoundError)
    assert err.result.ok.tolist() == [True, False, True, False]  # the good vectors are kept


def test_a_long_list_of_failures_is_counted_not_spelled_out(hashed):
    with pytest.raises(FailedInputsError, match=r"7 of 7 inputs failed: .*#4 .*; and 2 more \(see .errors\)$"):
        EmbedderAdapter(hashed).documents([""] * 7)


def test_a_text_that_is_not_a_str_is_an_input_error_not_sniffed_media(hashed, jpeg_bytes):
    with pytest.raises(FailedInputsError) as caught:
        EmbedderAdapter(hashed).documents(["fine", jpeg_bytes])  # type: ignore[list-item]
    assert isinstance(caught.value.errors[1], InvalidTextError)
    assert "#1 <" in str(caught.value) and "expected str, got bytes" in str(caught.value)


def test_a_one_input_call_raises_that_inputs_own_error(hashed):
    adapter = EmbedderAdapter(hashed)
    with pytest.raises(InputNotFoundError, match="missing.jpg"):
        adapter.image("missing.jpg")
    with pytest.raises(InvalidTextError):
        asyncio.run(adapter.aquery(""))


def test_async_calls_report_failures_like_sync_ones(hashed, jpeg_bytes):
    with pytest.raises(FailedInputsError, match="^1 of 2 inputs failed: #1 'nope.png': InputNotFoundError"):
        asyncio.run(EmbedderAdapter(hashed).aimages([jpeg_bytes, "nope.png"]))


# -- the embedder it makes ------------------------------------------------------------------
def test_batch_options_go_to_the_engine_and_the_rest_to_the_backend():
    emb = make_embedder("vertex", {"transport": InMemoryTransport(), "location": "europe-west4",
                                   "concurrency": 3, "requests_per_minute": 600})
    assert emb.location == "europe-west4"  # type: ignore[attr-defined]
    assert emb.batch.concurrency == 3 and emb.batch.requests_per_minute == 600


def test_unknown_options_are_refused_by_name():
    with pytest.raises(TypeError, match="unknown batch option|unexpected keyword"):
        make_embedder("hashed", {"colour": "red"})


def test_closing_the_adapter_closes_only_an_embedder_it_made(mocker):
    made, given = get_embedder("hashed"), get_embedder("hashed")
    close_made, close_given = mocker.spy(made, "close"), mocker.spy(given, "close")
    EmbedderAdapter(made, owns_embedder=True).close()
    EmbedderAdapter(given).close()
    assert close_made.call_count == 1 and close_given.call_count == 0


def test_importing_the_package_loads_no_framework():
    code = ("import sys, vertex_mm.integrations; "
            "bad = [m for m in ('langchain_core', 'llama_index') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
