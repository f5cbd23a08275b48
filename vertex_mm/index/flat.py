"""Exact search: every row scored, top-k by a fused BLAS pass (:mod:`vertex_mm.index.topk`).

Exact is the right default up to a few million rows on one machine: recall is 1.0, there is
nothing to train or tune, and one pass over 500k x 512 float32 takes well under a second for a
batch of 100 queries. Beyond that, use :class:`~vertex_mm.index.faiss_index.FaissIndex` (HNSW or
IVF) or export to Vertex AI Vector Search.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import BaseIndex
from .topk import exact_topk

__all__ = ["FlatIndex"]

# Below this fraction of allowed rows, copying the allowed rows out and scanning only them is
# cheaper than scoring every row and masking.
_GATHER_BELOW = 0.25


class FlatIndex(BaseIndex):
    """Exact cosine top-k over normalised float32 rows (numpy + BLAS; no extra dependency)."""

    kind: ClassVar[str] = "flat"

    def _search_rows(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._store.vectors
        if allowed is not None and allowed.mean() < _GATHER_BELOW:
            picked = np.flatnonzero(allowed)
            scores, sub = exact_topk(vectors[picked], queries, k)
            return scores, np.where(sub >= 0, picked[np.maximum(sub, 0)], -1)
        return exact_topk(vectors, queries, k, allowed=allowed)
