"""What a page search returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PageHit"]


@dataclass(frozen=True)
class PageHit:
    """One retrieved page: which document, which page (1-based, as printed on a viewer), its
    score, and the metadata stored with it at indexing time (size, source path, ...)."""

    doc_id: str
    page_number: int
    score: float
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """``doc_id#page`` — the page id used by qrels in the evaluation harness."""
        return f"{self.doc_id}#{self.page_number}"
