"""ColPali, ColQwen2 and ColModernVBert page embedders on transformers' own classes.

>>> emb = create_colqwen2(checkpoint="/models/colqwen2-v1.0-hf")          # doctest: +SKIP
>>> pages = emb.embed_pages(images)        # one float32 (n_i, 128) matrix per page image
>>> queries = emb.embed_queries(["revenue by quarter"])
>>> scores = vertex_mm.late_interaction.maxsim(queries, pages)            # (1, n_pages)

A :class:`ColPaliFamilyEmbedder` is a :class:`vertex_mm.pages.MultiVectorEmbedder`. It runs the
checkpoint's ``ColXForRetrieval`` model on its ``ColXProcessor``'s inputs, exactly as the
transformers reference does: ``process_images`` for pages (the family's visual prompt, the PIL image
processor) and ``process_queries`` for queries (the family's query prefix and its ten query
augmentation tokens, which are real query vectors). The model L2-normalises every token vector;
the padding positions of a batch (``attention_mask == 0``) are dropped, so a page embedded alone or
in a batch gives the same vectors. Prompt tokens are kept: they are part of the reference's
multi-vector.

Nothing is downloaded and colpali-engine is never imported: weights come from a local folder or
the local Hugging Face cache (``local_files_only=True``); see
:func:`~local_backend.models.colpali_families.resolve_colpali_checkpoint` for the error raised when
they are missing. ``dtype="auto"`` runs the model in bfloat16 where the hardware has it natively
(a recent GPU, a CPU with AVX512-BF16 or AMX) and in float32 elsewhere (:mod:`local_backend.device`);
vectors always come back as float32 numpy arrays.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vertex_mm._optional import require
from vertex_mm.errors import InputError, InvalidTextError
from vertex_mm.results import EmbeddingSpace

from ..device import resolve_device, resolve_dtype
from .colpali_families import (
    DEFAULT_MAX_VISUAL_TOKENS,
    Family,
    cap_visual_tokens,
    family_named,
    resolve_colpali_checkpoint,
    weights_fingerprint,
)
from .hf_loading import check_loading_info, load_part
from .page_pixels import page_rgb

__all__ = ["ColPaliFamilyEmbedder", "create_colmodernvbert", "create_colpali", "create_colqwen2"]

BACKEND = "colpali"
DEFAULT_BATCH_SIZE = 4  # pages per forward pass: a real ColQwen2 page batch of 4 holds ~3k tokens


def _torch() -> Any:
    return require("local", "torch", what="ColPali-family page embedders")


class ColPaliFamilyEmbedder:
    """Pages and queries to multi-vectors with a ``ColXForRetrieval`` model and its processor.

    Build it with :meth:`from_pretrained` (or the registry factories below); the constructor
    takes an already loaded model and processor (the benchmark builds random real-size ones) and
    applies ``max_visual_tokens`` to that processor in place.
    ``space`` is ``colpali/<family>-<weights fingerprint>/<dim>``: vectors of one checkpoint
    compare, whatever folder or repo id it was loaded from, and never mix with another's.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        family: str | Family,
        fingerprint: str = "unsaved",
        name: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_visual_tokens: int | None = DEFAULT_MAX_VISUAL_TOKENS,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive int, got {batch_size!r}", input_name="batch_size")
        self.family = family_named(family) if isinstance(family, str) else family
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size
        first = next(model.parameters())
        self.device, self.dtype = first.device, first.dtype
        self.name = name or self.family.name
        self.space = EmbeddingSpace(BACKEND, f"{self.family.name}-{fingerprint}", int(model.config.embedding_dim))
        self.max_visual_tokens = cap_visual_tokens(self.family, processor, max_visual_tokens)

    @classmethod
    def from_pretrained(
        cls,
        checkpoint: str | os.PathLike[str],
        *,
        family: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_visual_tokens: int | None = DEFAULT_MAX_VISUAL_TOKENS,
        name: str | None = None,
    ) -> "ColPaliFamilyEmbedder":
        """Load a checkpoint folder, or a repo id from the local HF cache, never from the network.

        ``family`` ("colpali", "colqwen2", "colmodernvbert") is read from ``config.json`` when
        omitted, and checked against it when given. ``device``: "auto" (CUDA when torch sees a
        GPU), "cpu", "cuda" (falls back to the CPU with a
        :class:`~local_backend.device.DeviceFallbackWarning`). ``dtype``: "auto" (bfloat16 where
        the hardware has it natively, else float32), "float32" (the reference numerics),
        "bfloat16", "float16". ``max_visual_tokens`` caps ColQwen2's vectors per page (768, as
        colpali-engine; ``None`` keeps the checkpoint's pixel range); the other families ignore it.
        """
        tf = require("local", "transformers", what="ColPali-family page embedders")
        ckpt, fam = resolve_colpali_checkpoint(checkpoint, family, hint_family=family or "colpali")
        where = resolve_device(device)
        model, info = load_part(ckpt, lambda folder: getattr(tf, fam.model_class).from_pretrained(
            folder, local_files_only=True, dtype=resolve_dtype(dtype, where), output_loading_info=True
        ), what="weights", example_repo=fam.default_repo)
        check_loading_info(ckpt, info, example_repo=fam.default_repo)
        processor = load_part(
            ckpt, lambda folder: getattr(tf, fam.processor_class).from_pretrained(folder, local_files_only=True),
            what="processor (tokenizer and image settings)", example_repo=fam.default_repo)
        label = name or f"{fam.name}:{os.path.basename(os.path.normpath(os.fspath(checkpoint)))}"
        return cls(model.to(where), processor, family=fam, fingerprint=weights_fingerprint(ckpt), name=label,
                   batch_size=batch_size, max_visual_tokens=max_visual_tokens)

    def __repr__(self) -> str:
        return f"ColPaliFamilyEmbedder(name={self.name!r}, space={self.space.id!r}, device={self.device}, dtype={self.dtype})"

    def embed_pages(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One float32 ``(n_i, dim)`` matrix per page (a PIL image or a :class:`PageImage`), in order.

        Raises :class:`~vertex_mm.errors.InvalidImageError` naming the page that cannot be decoded.
        """
        pages = [page_rgb(page, i) for i, page in enumerate(images)]
        return self._embed(pages, self.processor.process_images, order=None)

    def embed_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        """One float32 ``(m_j, dim)`` matrix per query, in order; prefix and augmentation tokens
        exactly as the processor's ``process_queries`` adds them.

        Raises :class:`~vertex_mm.errors.InvalidTextError` for an empty or non-string query.
        """
        if isinstance(queries, str):
            raise InvalidTextError("embed_queries takes a sequence of strings, got one string", input_name="queries")
        texts = list(queries)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InvalidTextError(f"queries[{i}] must be a non-empty string, got {text!r}", input_name=f"queries[{i}]")
        # Similar lengths share a batch, so little compute goes to padding; results go back in order.
        return self._embed(texts, self.processor.process_queries, order=sorted(range(len(texts)), key=lambda i: len(texts[i])))

    def _embed(self, items: list[Any], process: Callable[[list[Any]], Any], order: list[int] | None) -> list[np.ndarray]:
        order = list(range(len(items))) if order is None else order
        out: list[np.ndarray] = [np.empty(0)] * len(items)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for i, vectors in zip(chunk, self._forward(process([items[i] for i in chunk]))):
                out[i] = vectors
        return out

    def _forward(self, batch: Any) -> list[np.ndarray]:
        torch = _torch()
        mask = batch["attention_mask"].bool().numpy()
        # labels are a training artefact of ColPali's processor; the forward never needs them.
        inputs = {k: v.to(self.device) for k, v in batch.items() if k != "labels"}
        with torch.inference_mode():
            embeddings = self.model(**inputs).embeddings  # (B, L, dim), unit rows, zero where masked
        matrix = embeddings.float().cpu().numpy()
        return [np.ascontiguousarray(matrix[i][mask[i]]) for i in range(matrix.shape[0])]


# Registry factories: keyword arguments only (a config's "params"). ``colpali`` reads the family
# from the checkpoint (so the spec ``colpali:DIR`` takes any of the three); the others fix theirs.


def create_colpali(*, checkpoint: str | os.PathLike[str] = "vidore/colpali-v1.3-hf", device: str = "auto", dtype: str = "auto",
                   batch_size: int = DEFAULT_BATCH_SIZE, name: str | None = None) -> ColPaliFamilyEmbedder:
    """ColPali v1.3 (PaliGemma-3B) by default, or any ColPali-family checkpoint (the family is
    read from its ``config.json``), from a folder or the local HF cache (see
    :meth:`ColPaliFamilyEmbedder.from_pretrained`)."""
    return ColPaliFamilyEmbedder.from_pretrained(checkpoint, family=None, device=device, dtype=dtype,
                                                 batch_size=batch_size, name=name)


def create_colqwen2(*, checkpoint: str | os.PathLike[str] = "vidore/colqwen2-v1.0-hf", device: str = "auto", dtype: str = "auto",
                    batch_size: int = DEFAULT_BATCH_SIZE, max_visual_tokens: int | None = DEFAULT_MAX_VISUAL_TOKENS,
                    name: str | None = None) -> ColPaliFamilyEmbedder:
    """ColQwen2 v1.0 (Qwen2-VL-2B), from a folder or the local HF cache (see :meth:`ColPaliFamilyEmbedder.from_pretrained`)."""
    return ColPaliFamilyEmbedder.from_pretrained(checkpoint, family="colqwen2", device=device, dtype=dtype, batch_size=batch_size,
                                                 max_visual_tokens=max_visual_tokens, name=name)


def create_colmodernvbert(*, checkpoint: str | os.PathLike[str] = "ModernVBERT/colmodernvbert-merged", device: str = "auto",
                          dtype: str = "auto", batch_size: int = DEFAULT_BATCH_SIZE,
                          name: str | None = None) -> ColPaliFamilyEmbedder:
    """ColModernVBert (~250M params), from a folder or the local HF cache (see :meth:`ColPaliFamilyEmbedder.from_pretrained`)."""
    return ColPaliFamilyEmbedder.from_pretrained(checkpoint, family="colmodernvbert", device=device, dtype=dtype,
                                                 batch_size=batch_size, name=name)
