"""One embedding row as one Vertex AI Vector Search batch-input record (a JSON Lines line).

The record format and the metadata-to-restricts rules are those of
:mod:`vertex_mm.index.export.vector_search` (issue D's exporter), so a Beam job and
``export_batch`` of a local index write the same records::

    {"id": "cat-1", "embedding": [0.1, ...],
     "restricts": [{"namespace": "label", "allow": ["cat"]}],
     "numeric_restricts": [{"namespace": "year", "value_int": 2024}],
     "crowding_tag": "album-7", "embedding_metadata": {...}}

By default (``RestrictsMapping()``) string and list-of-string metadata become token
restricts, numbers become numeric restricts, and the whole metadata travels as
``embedding_metadata``; pass a :class:`RestrictsMapping` to choose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..index.export.vector_search import RestrictsMapping, to_record
from ..results import EmbeddingSpace

__all__ = ["RestrictsMapping", "vector_search_record"]


def vector_search_record(
    row: Mapping[str, Any],
    *,
    mapping: RestrictsMapping | None = None,
    space: str | None = None,
) -> dict[str, Any]:
    """The Vector Search record of an embedding row; restricts come from its metadata.

    With ``space`` (an embedding space id), a row of another space raises
    :class:`~vertex_mm.errors.EmbeddingSpaceMismatchError`: an index holds one space.
    """
    if space is not None and row.get("embedding_space") != space:
        EmbeddingSpace.from_id(space).require_same(
            EmbeddingSpace.from_id(str(row.get("embedding_space"))), f"row {row.get('id')!r}")
    return to_record(str(row["id"]), row["embedding"], row.get("metadata") or {}, mapping or RestrictsMapping())
