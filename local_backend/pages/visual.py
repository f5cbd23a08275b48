"""Figure and photo signal: CNN region vectors in the joint image-text space.

This is the offline multi-vector page embedder, :class:`local_backend.models.regions.RegionConSEEmbedder`
(EfficientNet-Lite0 region vectors mapped into MiniLM space by ConSE, see
:mod:`local_backend.models.conse`), scored by late interaction (MaxSim,
:func:`vertex_mm.late_interaction.maxsim`). Each page also gets one ConSE vector per
figure region cropped out on its own, so a small photo is not lost among the page's tiles.

ConSE knows the 1000 ImageNet concepts only: it can find a photo of a dog or a car on a page,
not what a chart says. On pages of charts and tables the signal is weak, so fusion gives it a
small weight (see :mod:`.fusion`), and the evaluation reports it alone so that nobody has to
guess how weak.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["VisualScorer"]


class VisualScorer:
    """MaxSim between the query's token vectors and each page's region vectors."""

    def __init__(self, embedder: Any = None, *, batch_size: int = 8) -> None:
        if embedder is None:
            from local_backend.models.regions import RegionConSEEmbedder

            embedder = RegionConSEEmbedder()
        self.embedder = embedder
        self.batch_size = batch_size
        self._vectors: list[np.ndarray] = []

    def add_pages(self, pages: Sequence[Any], crops: Sequence[Sequence[Any]]) -> None:
        """Append pages (PIL images) with their figure crops (PIL images) to the index."""
        model = getattr(self.embedder, "model", None)
        for start in range(0, len(pages), self.batch_size):
            chunk = list(pages[start : start + self.batch_size])
            vecs = self.embedder.embed_pages(chunk)
            for j, page_vecs in enumerate(vecs):
                own = list(crops[start + j]) if start + j < len(crops) else []
                if own and model is not None:
                    page_vecs = np.vstack([page_vecs, model.encode_images(own)])
                self._vectors.append(np.asarray(page_vecs, dtype=np.float32))

    @property
    def n_docs(self) -> int:
        return len(self._vectors)

    @property
    def vectors(self) -> list[np.ndarray]:
        return self._vectors

    def arrays(self) -> dict[str, np.ndarray]:
        """What an index stores of this scorer: every page's vectors end to end, as float16
        (half the bytes; MaxSim rankings do not move), and each page's vector count."""
        lengths = np.array([v.shape[0] for v in self._vectors], np.int64)
        dim = self._vectors[0].shape[1] if self._vectors else 0
        tokens = np.vstack(self._vectors) if self._vectors else np.zeros((0, dim), np.float32)
        return {"tokens": tokens.astype(np.float16), "lengths": lengths}

    @classmethod
    def from_arrays(cls, embedder: Any, arrays: dict[str, np.ndarray]) -> VisualScorer:
        """The scorer :meth:`arrays` describes (``embedder`` embeds the queries)."""
        scorer = cls(embedder)
        ends = np.cumsum(arrays["lengths"])
        tokens = arrays["tokens"].astype(np.float32)
        scorer._vectors = [tokens[e - n : e] for e, n in zip(ends, arrays["lengths"])]
        return scorer

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        from vertex_mm.late_interaction.maxsim import maxsim

        if not queries:
            return np.zeros((0, self.n_docs), np.float32)
        return maxsim(self.embedder.embed_queries(list(queries)), self._vectors)
