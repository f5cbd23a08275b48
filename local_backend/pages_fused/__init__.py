"""OCR-assisted page search (``ocr-fused``): the offline default for "find the page that shows X".

Not ColPali. See :mod:`.retriever` for what it combines and :mod:`.fusion` for how.
"""

from __future__ import annotations

from .fusion import DEFAULT_WEIGHTS, Fusion
from .retriever import COMPONENTS, RETRIEVER_NAME, Hit, IndexStats, OcrAssistedPageRetriever
from .sources import PageRef, expand_paths

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "Fusion",
    "Hit",
    "IndexStats",
    "OcrAssistedPageRetriever",
    "PageRef",
    "RETRIEVER_NAME",
    "expand_paths",
]
