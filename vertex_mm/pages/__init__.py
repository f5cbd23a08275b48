"""Page search: find the page of a PDF (or the page image) that a text query describes.

* :mod:`.ingest` — the one module that opens PDFs; :class:`PageRef`, :class:`PageImage` and the
  one page-id scheme (:func:`page_id`: ``"<file stem>#<page>"``, an image file its stem).
* :mod:`.retriever` — the :class:`PageRetriever` contract every retriever meets, and
  :class:`IndexStats`. Build one from a spec with :func:`vertex_mm.registry.get_page_retriever`
  (``ocr-fused``, ``regions``, ``colpali:DIR``).
* :mod:`.embedder` and :mod:`.late_interaction` — :class:`MultiVectorEmbedder`, and the
  retriever that searches its page vectors by MaxSim in a :class:`~vertex_mm.index.MultiVectorIndex`.
* :mod:`.eval` — BEIR-layout data sets, the evaluation table, ``vertex-mm pages eval``.

Every search returns :class:`PageHit` lists. The OCR-assisted default retriever lives in the
local backend (``local_backend.pages``); the scoring kernels in :mod:`vertex_mm.late_interaction`.
"""

from __future__ import annotations

from ..index.results import PageHit
from .embedder import MultiVectorEmbedder, index_pages
from .ingest import (
    InvalidDocumentError,
    PageImage,
    PageRef,
    expand_sources,
    iter_image_folder,
    iter_page_batches,
    iter_page_images,
    iter_pdf_pages,
    page_id,
    pdf_page_count,
)
from .late_interaction import LateInteractionRetriever
from .retriever import EvalVariants, IndexStats, PageRetriever

__all__ = [
    "EvalVariants",
    "IndexStats",
    "InvalidDocumentError",
    "LateInteractionRetriever",
    "MultiVectorEmbedder",
    "PageHit",
    "PageImage",
    "PageRef",
    "PageRetriever",
    "expand_sources",
    "index_pages",
    "iter_image_folder",
    "iter_page_batches",
    "iter_page_images",
    "iter_pdf_pages",
    "page_id",
    "pdf_page_count",
]
