"""What a search returns: per query, hits best first, plus the raw score and id matrices."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Hit", "SearchResults"]


@dataclass(frozen=True)
class Hit:
    """One neighbour: its id, cosine ``score`` (higher is closer) and stored metadata."""

    id: str
    score: float
    metadata: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"Hit(id={self.id!r}, score={self.score:.4f})"


class SearchResults(Sequence[list[Hit]]):
    """``results[i]`` is query i's hits, best first (fewer than k when fewer rows qualify).

    ``scores`` is the (queries, k) float32 matrix (``-inf`` where no hit) and ``ids`` the
    matching id lists, for code that wants arrays (e.g. recall computations).
    """

    def __init__(self, hits: list[list[Hit]], scores: np.ndarray) -> None:
        self._hits = hits
        self.scores = scores

    @property
    def ids(self) -> list[list[str]]:
        return [[h.id for h in row] for row in self._hits]

    def __getitem__(self, i: int) -> list[Hit]:  # type: ignore[override]
        return self._hits[i]

    def __len__(self) -> int:
        return len(self._hits)

    def __iter__(self) -> Iterator[list[Hit]]:
        return iter(self._hits)

    def __repr__(self) -> str:
        k = self.scores.shape[1] if self.scores.ndim == 2 else 0
        return f"SearchResults(queries={len(self._hits)}, k={k})"
