"""One bad item never sinks a batch: when the local model's batched call fails as a whole, the
batch is run again item by item and only the guilty items carry errors."""

from __future__ import annotations

import asyncio

import pytest

from vertex_mm.errors import BackendError, BatchError


@pytest.fixture
def booby_trapped(local_embedder, monkeypatch, jpegs):
    """The batched image call raises a bare RuntimeError for any batch holding the rocket photo."""
    real = type(local_embedder).encode_image_bytes

    def trapped(self, items):
        if any(data == jpegs["rocket"] for data, _ in items):
            raise RuntimeError("the accelerator fell over")
        return real(self, items)

    monkeypatch.setattr(type(local_embedder), "encode_image_bytes", trapped)
    return local_embedder


def test_only_the_guilty_image_fails_and_its_error_is_typed(booby_trapped, jpegs):
    items = [jpegs["chelsea"], jpegs["rocket"], jpegs["coffee"]]
    out = booby_trapped.embed_images(items, dimension=128, errors="collect")
    assert out.ok.tolist() == [True, False, True]
    assert isinstance(out.errors[1], BackendError)
    assert isinstance(out.errors[1].__cause__, RuntimeError)
    with pytest.raises(BatchError, match="1 of 3 inputs failed"):
        booby_trapped.embed_images(items, dimension=128)


def test_the_async_path_is_isolated_too(booby_trapped, jpegs):
    out = asyncio.run(booby_trapped.aembed_images([jpegs["rocket"], jpegs["astronaut"]], dimension=128,
                                                 errors="collect"))
    assert out.ok.tolist() == [False, True]


def test_a_text_the_tokenizer_cannot_take_is_a_typed_per_item_error(local_embedder):
    out = local_embedder.embed_texts(["fine", "bad \udcff", "also fine"], errors="collect")
    assert out.ok.tolist() == [True, False, True]
    assert type(out.errors[1]).__name__ == "InvalidTextError"
