"""One embedding row as one Vertex AI Vector Search batch-input record (a JSON Lines line).

The record format of Vector Search's batch input (files ending ``.json`` in the index's
``contentsDeltaUri`` folder)::

    {"id": "cat-1", "embedding": [0.1, ...],
     "restricts": [{"namespace": "label", "allow": ["cat"]}],
     "numeric_restricts": [{"namespace": "year", "value_int": 2024}],
     "crowding_tag": "album-7"}

Token restricts take string values (a list gives several ``allow`` tokens); numeric restricts
take ints (``value_int``) or floats (``value_float``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..results import EmbeddingSpace

__all__ = ["vector_search_record"]


def _tokens(value: Any) -> list[str]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value]
    return [str(value)]


def _numeric(namespace: str, value: Any, row_id: str) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{row_id}: numeric restrict {namespace!r} needs a number, got {value!r}")
    key = "value_int" if isinstance(value, int) else "value_float"
    return {"namespace": namespace, key: value}


def vector_search_record(
    row: Mapping[str, Any],
    *,
    restrict_keys: Iterable[str] = (),
    numeric_restrict_keys: Iterable[str] = (),
    crowding_tag_key: str | None = None,
    space: str | None = None,
) -> dict[str, Any]:
    """The Vector Search record of an embedding row; restricts come from its metadata.

    A metadata key that is absent from a row is skipped for that row (the datapoint then has
    no restrict in that namespace). With ``space`` (an embedding space id), a row of another
    space raises :class:`~vertex_mm.errors.EmbeddingSpaceMismatchError`: an index holds one.
    """
    if space is not None and row.get("embedding_space") != space:
        EmbeddingSpace.from_id(space).require_same(
            EmbeddingSpace.from_id(str(row.get("embedding_space"))), f"row {row.get('id')!r}")
    metadata = row.get("metadata") or {}
    record: dict[str, Any] = {"id": str(row["id"]), "embedding": [float(x) for x in row["embedding"]]}
    restricts = [{"namespace": k, "allow": _tokens(metadata[k])} for k in restrict_keys if metadata.get(k) is not None]
    if restricts:
        record["restricts"] = restricts
    numeric = [_numeric(k, metadata[k], record["id"]) for k in numeric_restrict_keys if metadata.get(k) is not None]
    if numeric:
        record["numeric_restricts"] = numeric
    if crowding_tag_key and metadata.get(crowding_tag_key) is not None:
        record["crowding_tag"] = str(metadata[crowding_tag_key])
    return record
