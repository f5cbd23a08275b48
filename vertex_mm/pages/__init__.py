"""Visual document retrieval: PDFs and page images in, multi-vector pages, late-interaction search.

* :mod:`.ingest` — PDF pages rendered with pypdfium2, image folders as pages, streamed.
* :mod:`.embedder` — the :class:`MultiVectorEmbedder` contract and :func:`index_pages`.
* :mod:`.colpali_adapter` — ColPali / ColQwen2 / ColSmol checkpoints through colpali-engine.
* :mod:`.eval` — ViDoRe / BEIR-layout datasets, nDCG@k, recall@k, MRR, baselines.

The scoring engine and the index live in :mod:`vertex_mm.late_interaction`.
"""

from __future__ import annotations

from .embedder import MultiVectorEmbedder, index_pages
from .ingest import InvalidDocumentError, PageImage, iter_document_pages, iter_image_folder, iter_page_batches, iter_pdf_pages

__all__ = [
    "InvalidDocumentError",
    "MultiVectorEmbedder",
    "PageImage",
    "index_pages",
    "iter_document_pages",
    "iter_image_folder",
    "iter_page_batches",
    "iter_pdf_pages",
]
