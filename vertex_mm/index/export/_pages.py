"""The pages of a :class:`~vertex_mm.index.MultiVectorIndex` as the store exports read them:
one :class:`StoredPage` per live page, its token matrix as float32, in the order of
:meth:`~vertex_mm.index.MultiVectorIndex.page_ids`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import EmbeddingSpaceMismatchError, InputError
from ..multivector import MultiVectorIndex
from ._output import check_row_text

__all__ = ["StoredPage", "check_held_space", "check_multivector", "check_pages", "iter_pages"]


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


_NO_VECTORS = np.zeros((0, 0), dtype=np.float32)


def iter_pages(index: MultiVectorIndex, *, vectors: bool = True) -> Iterator[StoredPage]:
    """Every live page of ``index`` (pages not yet saved included), in :meth:`page_ids` order.
    With ``vectors=False`` each page's matrix is left unread (an empty array): the stored
    pages are memory-mapped, so a pass over ids and metadata alone reads no token bytes."""
    for row, stored in index.iter_pages():
        matrix = np.asarray(stored, dtype=np.float32) if vectors else _NO_VECTORS
        yield StoredPage(page_id=str(row["page_id"]), doc_id=str(row["doc_id"]), page_number=int(row["page_number"]),
                         metadata=dict(row.get("metadata", {})), vectors=matrix)


def check_pages(index: MultiVectorIndex, target: str, check: Callable[[StoredPage], None] | None = None) -> None:
    """Every page checked before the store is touched (a failure half way used to leave a
    store of some pages, after ``--replace`` had dropped the old ones): ids and metadata must
    be text ``target`` can store, and ``check(page)`` may refuse a page too."""
    for page in iter_pages(index, vectors=check is not None):  # a check of ids alone reads no tokens
        check_row_text(page.page_id, {"doc_id": page.doc_id, "metadata": page.metadata}, target)
        if check is not None:
            check(page)


def check_held_space(held: str | None, space: str, where: str) -> None:
    """Refuse to add pages of ``space`` to a store whose pages (``held``: one of them's
    ``embedding_space``, None when it is empty) came from another model: MaxSim scores of two
    models ranked against each other mean nothing, whatever their dimensions."""
    if held and held != space:
        raise EmbeddingSpaceMismatchError(f"{where} holds pages of {held}, this index {space}; pass replace=True "
                                          "(--replace) to overwrite it, or export into another one")
