"""The contract of a page retriever: index pages, answer text queries with pages, save.

Two retrievers meet it:

* ``ocr-fused`` (``local_backend.pages.OcrAssistedPageRetriever``), the offline default: PDF
  text layer / tesseract words with BM25, MiniLM passages, CNN figure regions and a layout
  signal, fused. It is not ColPali, and says so (:attr:`PageRetriever.description`).
* :class:`~vertex_mm.pages.late_interaction.LateInteractionRetriever`: any
  :class:`~vertex_mm.pages.MultiVectorEmbedder` (ColPali, the offline region model) over a
  :class:`~vertex_mm.index.MultiVectorIndex`.

Build one from a spec with :func:`vertex_mm.registry.get_page_retriever` and open a saved one
with :func:`vertex_mm.registry.load_page_retriever`; the command line (``vertex-mm pages``),
the PDF example and the evaluation harness only see this protocol.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..index.results import PageHit
from .ingest import PageRef

__all__ = ["EvalVariants", "IndexStats", "PageRetriever"]


@dataclass
class IndexStats:
    """What indexing did, and how fast. The reading counts are the OCR-assisted retriever's
    (zero for a retriever that only looks at page images)."""

    pages: int = 0
    documents: dict[str, int] = field(default_factory=dict)  # pages per document
    text_layer_pages: int = 0
    ocr_pages: int = 0
    ocr_regions: int = 0
    ocr_cached: int = 0
    ocr_rereads: int = 0  # pages read twice: the first reading's confidence was low (orientation)
    ocr_crashes: int = 0  # pages whose tesseract worker crashed; each was read again by the CLI
    errors: list[str] = field(default_factory=list)
    skipped: int = 0  # pages already in the index, left as they were (an update without replace)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.total_seconds if self.total_seconds > 0 else float("inf")

    def reading(self) -> str:
        """How the pages were read, e.g. ``text layer 79, OCR 17 pages + 0 image regions``."""
        extra = "".join(f", {n} {what}" for n, what in ((self.ocr_rereads, "re-read for orientation"),
                                                         (self.ocr_crashes, "re-read after a tesseract crash")) if n)
        return f"text layer {self.text_layer_pages}, OCR {self.ocr_pages} pages + {self.ocr_regions} image regions{extra}"


@runtime_checkable
class PageRetriever(Protocol):
    """Pages in, ranked pages out, for text queries."""

    #: Short name, as a spec names it: ``"ocr-fused"``, ``"regions"``, ``"colpali:/models/x"``.
    name: str
    #: What it does in a few words (the evaluation table's row: ``f"{name} ({method})"``).
    method: str

    @property
    def description(self) -> str:
        """One line on what answers the queries, printed with every result."""
        ...

    @property
    def page_ids(self) -> list[str]:
        """The indexed pages, in the column order of :meth:`score`."""
        ...

    def index(self, pages: Iterable[PageRef], *, save_to: str | os.PathLike[str] | None = None) -> IndexStats:
        """Read and index ``pages``; with ``save_to``, the index is saved there (as it goes,
        where the retriever can). Unreadable pages are listed in the stats, not raised."""
        ...

    def score(self, queries: Sequence[str]) -> np.ndarray:
        """``(queries, pages)`` scores, higher is better, columns in :attr:`page_ids` order."""
        ...

    def search(self, queries: Sequence[str], k: int = 5) -> list[list[PageHit]]:
        """The ``k`` best pages for each query, best first."""
        ...

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to ``path`` (one directory; see :mod:`vertex_mm.index.manifest`)."""
        ...


@runtime_checkable
class EvalVariants(Protocol):
    """A retriever that can score variants of itself from the index it already holds
    (ablations, a cheaper mode): extra rows of the evaluation table, at no re-indexing."""

    def eval_variants(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """Row label -> ``(queries, pages)`` scores (``-inf`` for pages a variant never ranks)."""
        ...
