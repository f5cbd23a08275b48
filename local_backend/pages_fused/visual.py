"""Figure and photo signal: CNN region vectors in the joint image-text space.

Each page contributes the ConSE vectors (EfficientNet-Lite0 + MiniLM, see
:mod:`local_backend.models.conse`) of its 7 x 7 feature-map cells and of every figure region
cropped out on its own; the query is its MiniLM text vector in the same
space; a page scores as its best-matching vector. ConSE knows the 1000 ImageNet concepts
only: it can tell a photo of a dog or a car on a page, not what a chart says. On pages of
charts and tables the signal is weak, so fusion gives it a small weight (see
:mod:`local_backend.pages_fused.fusion`), and the evaluation reports it alone so that nobody
has to guess how weak.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["VisualScorer"]


class VisualScorer:
    """Max cosine between the query's text vector and each page's region vectors."""

    def __init__(self, model: Any = None, *, batch_size: int = 16) -> None:
        if model is None:
            from local_backend.registry import get_shared_model

            model = get_shared_model("conse-effnet-minilm")
        self.model = model
        self.batch_size = batch_size
        self._vectors: list[np.ndarray] = []

    def add_pages(self, pages: Sequence[Any], crops: Sequence[Sequence[Any]]) -> None:
        """Append pages (PIL images) with their figure crops (PIL images) to the index."""
        for start in range(0, len(pages), self.batch_size):
            chunk = list(pages[start : start + self.batch_size])
            regions = self.model.encode_image_regions(chunk)
            own = [c for j in range(len(chunk)) for c in (crops[start + j] if start + j < len(crops) else [])]
            crop_vecs = self.model.encode_images(own) if own else np.zeros((0, regions[0].shape[1]), np.float32)
            at = 0
            for j, page_regions in enumerate(regions):
                n = len(crops[start + j]) if start + j < len(crops) else 0
                self._vectors.append(np.vstack([page_regions, crop_vecs[at : at + n]]).astype(np.float32))
                at += n

    @property
    def n_docs(self) -> int:
        return len(self._vectors)

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        q = self.model.encode_texts(list(queries))
        out = np.empty((len(queries), self.n_docs), np.float32)
        for i, vecs in enumerate(self._vectors):
            out[:, i] = (q @ vecs.T).max(axis=1)
        return out
