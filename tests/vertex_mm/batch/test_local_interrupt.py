"""Ctrl-C during a list call on a backend that batches inference itself (the local backend):
:class:`BatchInterrupted` with the finished vectors, and the finished chunks cached, as the
remote backends do. The whole list went to the model in one call: Ctrl-C raised a bare
``KeyboardInterrupt`` and every vector computed so far was lost, even to the cache."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from factories import image_bytes

from local_backend import LocalEmbedder
from vertex_mm.batch import BatchInterrupted, NotRunError


class TinyModel:
    """A real local model, in numpy: an image's mean colour, a text's character counts.
    Sends Ctrl-C to the process while it embeds its ``interrupt_at``-th batch."""

    name = "acme/tiny"  # an org/model name, as Hugging Face models have
    native_dim = 16
    modalities = frozenset({"image", "text"})

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.batches: list[int] = []
        self.interrupt_at = interrupt_at

    def _batch(self, n: int) -> None:
        self.batches.append(n)
        if len(self.batches) == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        self._batch(len(images))
        rows = [np.resize(np.asarray(im.convert("RGB"), np.float32).mean(axis=(0, 1)) + 1.0, self.native_dim)
                for im in images]
        return _unit(np.stack(rows))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self._batch(len(texts))
        rows = [np.bincount(np.frombuffer(t.encode(), np.uint8) % self.native_dim, minlength=self.native_dim) + 1.0
                for t in texts]
        return _unit(np.stack(rows).astype(np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _embedder(model: TinyModel, cache: Any) -> LocalEmbedder:
    return LocalEmbedder(model, batch_size=4).configure_batch(chunk_size=4, cache=cache)


def test_ctrl_c_in_local_embed_images_keeps_and_caches_the_finished_chunks(tmp_path):
    images = [image_bytes("PNG", size=(8, 8), color=(i * 9, 40, 90)) for i in range(20)]
    emb = _embedder(TinyModel(interrupt_at=3), tmp_path / "c.sqlite")  # Ctrl-C in the third chunk
    with pytest.raises(BatchInterrupted) as info:
        emb.embed_images(images, dimension=128)
    partial = info.value.result
    assert partial.shape == (20, 128) and partial.ok.tolist() == [True] * 8 + [False] * 12
    assert all(isinstance(e, NotRunError) for e in partial.errors[8:])
    assert len(emb.batch.cache) == 8
    # The rerun embeds only what was not finished, and gives the same vectors for the rest.
    again = _embedder(TinyModel(), tmp_path / "c.sqlite")
    whole = again.embed_images(images, dimension=128)
    assert again.local_model.batches == [4, 4, 4]
    np.testing.assert_allclose(np.asarray(whole[:8]), np.asarray(partial[:8]), rtol=1e-6)


def test_ctrl_c_in_local_embed_texts_raises_batch_interrupted(tmp_path):
    emb = _embedder(TinyModel(interrupt_at=2), tmp_path / "c.sqlite")
    with pytest.raises(BatchInterrupted) as info:
        emb.embed_texts([f"text {i}" for i in range(12)], dimension=128)
    assert info.value.result.ok.sum() == 4 and len(emb.batch.cache) == 4
