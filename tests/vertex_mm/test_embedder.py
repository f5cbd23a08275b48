"""BaseEmbedder gives every backend the whole interface from one call, ``_predict``."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from factories import image_bytes, truncated

from vertex_mm import BatchError, Embedder, Embeddings, EmbeddingSpace, Image, MultiModalEmbeddingResponse
from vertex_mm.embedder import BaseEmbedder
from vertex_mm.errors import InvalidImageError, QuotaExceededError
from vertex_mm.wire import EmbedRequest


class RecordingEmbedder(BaseEmbedder):
    """A backend double at the transport boundary: vectors from content hashes, and a
    scripted quota error for one input."""

    backend = "test"
    model = "recording"

    def __init__(self, fail_text: str | None = None) -> None:
        self.requests: list[EmbedRequest] = []
        self.fail_text = fail_text

    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        self.requests.append(request)
        if request.text is not None and request.text == self.fail_text:
            raise QuotaExceededError("quota", retry_after=1.0)

        def vec(seed: bytes) -> list[float]:
            rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed).digest()[:8], "little"))
            v = rng.standard_normal(request.dimension)
            return list(v / np.linalg.norm(v))

        return MultiModalEmbeddingResponse(
            image_embedding=vec(request.image.data) if request.image else None,
            text_embedding=vec(request.text.encode()) if request.text else None,
            space=self.space(request.dimension),
        )


def test_base_embedder_satisfies_the_protocol():
    assert isinstance(RecordingEmbedder(), Embedder)


def test_get_embeddings_returns_both_vectors_in_one_space(jpeg_bytes):
    r = RecordingEmbedder().get_embeddings(image=Image(jpeg_bytes), contextual_text="a cat", dimension=512)
    assert len(r.image_embedding) == len(r.text_embedding) == 512
    assert r.space == EmbeddingSpace("test", "recording", 512)


def test_bad_input_fails_before_the_backend_is_called():
    emb = RecordingEmbedder()
    with pytest.raises(InvalidImageError):
        emb.get_embeddings(image=Image(b"not an image"))
    assert emb.requests == []


def test_embed_images_keeps_input_order_and_collects_per_item_errors(tmp_path):
    good = [image_bytes("JPEG", color=(i * 40, 10, 10)) for i in range(4)]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(truncated(image_bytes("JPEG", size=(128, 128))))
    inputs = [good[0], good[1], bad, good[2], tmp_path / "missing.jpg", good[3]]
    out = RecordingEmbedder().embed_images(inputs, dimension=128, errors="collect")
    assert isinstance(out, Embeddings) and out.shape == (6, 128) and out.dtype == np.float32
    assert out.ok.tolist() == [True, True, False, True, False, True]
    assert "broken.jpg" in str(out.errors[2]) and isinstance(out.errors[2], InvalidImageError)
    assert "missing.jpg" in str(out.errors[4])
    assert np.isnan(out[2]).all() and not np.isnan(out[out.ok]).any()
    # The same image embedded alone gives the same vector: order is preserved.
    alone = RecordingEmbedder().embed_images([good[2]], dimension=128)
    np.testing.assert_array_equal(out[3], alone[0])


def test_errors_raise_after_every_input_was_tried_and_keeps_the_finished_work():
    emb = RecordingEmbedder(fail_text="boom")
    with pytest.raises(BatchError, match=r"1 of 3 inputs failed; first, input #1: QuotaExceededError") as info:
        emb.embed_texts(["a", "boom", "c"], dimension=256)
    assert len(emb.requests) == 3
    result = info.value.result
    assert result.ok.tolist() == [True, False, True]
    assert isinstance(info.value.errors[1], QuotaExceededError)


def test_embed_many_takes_dicts_and_requests():
    emb = RecordingEmbedder()
    reqs = [{"contextual_text": "a"}, emb.build_request(contextual_text="b", dimension=128), {"dimension": 3}]
    results = emb.embed_many(reqs)
    assert len(results[0].text_embedding) == 1408 and len(results[1].text_embedding) == 128
    assert isinstance(results[2], Exception)


def test_embeddings_carry_their_space_through_slicing():
    space = EmbeddingSpace("local", "m", 4)
    e = Embeddings(np.eye(4, dtype=np.float32)[:3], space)
    assert e[1:].space == space and e[[0, 2]].space == space
    assert type(e[0]) is np.ndarray
    assert type(e * 2) is np.ndarray


def test_embedding_space_id_round_trip():
    s = EmbeddingSpace("local", "conse-effnet-minilm", 512, "pca512")
    assert EmbeddingSpace.from_id(s.id) == s
    with pytest.raises(ValueError):
        EmbeddingSpace.from_id("nonsense")


@pytest.mark.parametrize("call, item", [
    ("embed_texts", "cat"),
    ("embed_images", "photos/cat.jpg"),
    ("embed_images", b"\xff\xd8\xff\xe0 jpeg bytes"),
    ("embed_many", {"contextual_text": "cat"}),
])
def test_one_item_where_a_batch_call_takes_many_is_refused_before_anything_is_sent(call, item):
    # A string is iterable: unchecked, embed_texts("cat") embedded "c", "a" and "t".
    from vertex_mm.errors import InputError

    emb = RecordingEmbedder()
    with pytest.raises(InputError, match=rf"{call}\(\) takes a list of \w+, got one {type(item).__name__}"):
        getattr(emb, call)(item)
    assert emb.requests == []


def test_one_image_object_is_refused_by_embed_images_with_the_fix(jpeg_bytes):
    from vertex_mm.errors import InputError

    with pytest.raises(InputError, match=r"pass \[item\] for one"):
        RecordingEmbedder().embed_images(Image(jpeg_bytes))


def test_async_batch_calls_refuse_one_string_too():
    import asyncio

    from vertex_mm.errors import InputError

    with pytest.raises(InputError, match=r"aembed_texts\(\) takes a list of texts"):
        asyncio.run(RecordingEmbedder().aembed_texts("cat"))


def test_a_generator_of_texts_is_still_a_batch():
    out = RecordingEmbedder().embed_texts(t for t in ("cat", "dog"))
    assert out.shape == (2, 1408)
