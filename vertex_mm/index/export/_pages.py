"""The pages of a :class:`~vertex_mm.index.MultiVectorIndex` as the store exports read them:
one :class:`StoredPage` per live page, its token matrix as float32, in the order of
:meth:`~vertex_mm.index.MultiVectorIndex.page_ids`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from ..multivector import MultiVectorIndex

__all__ = ["StoredPage", "check_multivector", "iter_pages"]


@dataclass(frozen=True)
class StoredPage:
    """One live page: ids, page number (1-based), stored metadata and its ``(tokens, dim)`` matrix."""

    page_id: str
    doc_id: str
    page_number: int
    metadata: Mapping[str, Any]
    vectors: np.ndarray


def check_multivector(index: object, what: str) -> MultiVectorIndex:
    """``index`` itself when it is a multi-vector page index; an :class:`InputError` otherwise."""
    if not isinstance(index, MultiVectorIndex):
        raise InputError(f"{what} exports a multi-vector page index (MultiVectorIndex, built by `vertex-mm pages index "
                         f"--embedder regions|colpali:DIR`), got {type(index).__name__}", input_name="index")
    return index


def iter_pages(index: MultiVectorIndex) -> Iterator[StoredPage]:
    """Every live page of ``index`` (pages not yet saved included), in :meth:`page_ids` order."""
    for row, vectors in index.iter_pages():
        yield StoredPage(page_id=str(row["page_id"]), doc_id=str(row["doc_id"]), page_number=int(row["page_number"]),
                         metadata=dict(row.get("metadata", {})), vectors=np.asarray(vectors, dtype=np.float32))
