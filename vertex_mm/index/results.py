"""What a search returns: per query, hits best first, plus the raw score and id matrices.

:class:`Hit` is a row of a vector index; :class:`PageHit` a page of a document, whatever
found it (a multi-vector index, the OCR-assisted retriever). Pages are named by one scheme,
:func:`page_id`, defined here beside :class:`PageHit` so that the index and
:mod:`vertex_mm.pages` (which re-exports it) share it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Hit", "PageHit", "SearchResults", "page_id"]


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


def page_id(doc_id: str, page_number: int = 1, *, single_image: bool = False) -> str:
    """The one page-id scheme: page ``n`` (1-based) of a document is ``"<doc>#<n>"``; a page
    that is a file of its own (an image) is its document id. The document id of a file is its
    stem: ``report.pdf`` page 3 is ``"report#3"``, ``scan-7.png`` is ``"scan-7"``."""
    return doc_id if single_image else f"{doc_id}#{page_number}"


@dataclass(frozen=True)
class PageHit:
    """One retrieved page: which document, which page (1-based, as a viewer prints it), its
    score, what was stored with it (``source`` path, size, ...), and, from a retriever that
    fuses several signals, each component's own score.

    ``page_id`` defaults to :func:`page_id` of the document page; :attr:`key` is the same.
    """

    doc_id: str
    page_number: int
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)
    components: Mapping[str, float] = field(default_factory=dict, compare=False)
    page_id: str = ""

    def __post_init__(self) -> None:
        if not self.page_id:
            object.__setattr__(self, "page_id", page_id(self.doc_id, self.page_number))

    @property
    def key(self) -> str:
        """The page id (qrels of a page-retrieval data set name pages by it)."""
        return self.page_id

    @property
    def source(self) -> str:
        """The file the page came from ("" when the index did not store it)."""
        return str(self.metadata.get("source", ""))
