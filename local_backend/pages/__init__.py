"""Page search in the local backend: the OCR-assisted retriever (``ocr-fused``), the offline
default for "find the page that shows X", and the factories behind
:func:`vertex_mm.registry.get_page_retriever` / :func:`~vertex_mm.registry.load_page_retriever`.

``ocr-fused`` is not ColPali. See :mod:`.retriever` for what it combines, :mod:`.fusion` for
how, :mod:`.reader` for how pages are read (text layer, :mod:`.ocr` for tesseract) and
:mod:`.store` for how an index is saved. The multi-vector page embedders (regions, ColPali)
are models: :mod:`local_backend.models.regions`, :mod:`local_backend.models.colpali_engine`.
"""

from __future__ import annotations

from .factory import create_page_retriever, load_page_retriever
from .fusion import DEFAULT_WEIGHTS, Fusion
from .reader import ReaderSettings
from .retriever import COMPONENTS, DEFAULT_COMPONENTS, DESCRIPTION, RETRIEVER_NAME, OcrAssistedPageRetriever

__all__ = [
    "COMPONENTS",
    "DEFAULT_COMPONENTS",
    "DEFAULT_WEIGHTS",
    "DESCRIPTION",
    "RETRIEVER_NAME",
    "Fusion",
    "OcrAssistedPageRetriever",
    "ReaderSettings",
    "create_page_retriever",
    "load_page_retriever",
]
