"""Multi-vector pages in LanceDB, embedded: a folder on disk, no server to run (needs
``vertex-mm[lancedb]``).

>>> table = export_lancedb(index, "pages.lancedb")          # a folder; or a lancedb connection
>>> hits = search_lancedb(table, query_vectors, k=5)        # [[PageHit, ...]] per query

Each live page of a :class:`~vertex_mm.index.MultiVectorIndex` becomes one row: ``page_id``,
``doc_id``, ``page_number``, ``metadata`` (JSON text), ``embedding_space`` and ``vector``, a
multivector column. Exporting into an existing table merges on ``page_id`` (pages exported
again are replaced, new ones added).

LanceDB features used (tested with lancedb 0.40.0):

* a multivector column: Arrow type ``list<fixed_size_list<float32, d>>`` (one list of token
  vectors per row), as LanceDB's multivector guide documents
  (https://lancedb.github.io/documentation/guides/search/multivector-search.html);
* ``table.search(matrix, vector_column_name="vector").distance_type("cosine")``: a
  multi-vector query, scored by MaxSim over cosine similarity. LanceDB supports only the
  cosine metric for multivectors, and reports ``_distance = sum_i (1 - max_j cos(q_i, d_j))``,
  so :func:`search_lancedb` returns ``score = tokens(q) - _distance``, the MaxSim;
* ``merge_insert("page_id")`` for re-exports.

Cosine MaxSim equals our dot-product MaxSim only for unit-length vectors (ColPali's, the
regions model's). :func:`export_lancedb` checks that the stored vectors are unit length and
refuses others unless ``normalize=True`` (then they are stored normalized, and LanceDB ranks
by cosine MaxSim). Without a vector index LanceDB scans every row (exact); ``table.create_index(
metric="cosine", vector_column_name="vector")`` builds an approximate one for large tables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..._optional import require
from ...errors import InputError
from ..results import PageHit
from ._pages import StoredPage, check_held_space, check_multivector, check_pages, iter_pages

__all__ = ["DEFAULT_TABLE", "VECTOR_COLUMN", "export_lancedb", "search_lancedb"]

DEFAULT_TABLE = "pages"
VECTOR_COLUMN = "vector"
UNIT_TOLERANCE = 1e-2  # float16 storage moves a unit vector's norm by ~1e-3


def _schema(pa: Any, dimension: int) -> Any:
    return pa.schema([
        pa.field("page_id", pa.string()),
        pa.field("doc_id", pa.string()),
        pa.field("page_number", pa.int32()),
        pa.field("metadata", pa.string()),
        pa.field("embedding_space", pa.string()),
        pa.field(VECTOR_COLUMN, pa.list_(pa.list_(pa.float32(), dimension))),
    ])


def export_lancedb(
    index: Any,
    uri_or_db: Any,
    *,
    table: str = DEFAULT_TABLE,
    replace: bool = False,
    normalize: bool = False,
    batch_size: int = 256,
) -> Any:
    """Write every live page of ``index`` (a :class:`MultiVectorIndex`) to LanceDB table ``table``.

    ``uri_or_db``: a folder (created if needed) or a ``lancedb`` connection. A new table is
    created; an existing one must have the same vector dimension and is merged into on
    ``page_id``, unless ``replace`` overwrites it. Raises :class:`InputError` when a page's
    vectors are not unit length (LanceDB scores multivectors by cosine only) unless
    ``normalize``. Returns the LanceDB table.
    """
    index = check_multivector(index, "export_lancedb")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}", input_name="batch_size")
    lancedb = require("lancedb", "lancedb", what="the LanceDB export")
    pa = require("lancedb", "pyarrow", what="the LanceDB export")
    db = lancedb.connect(os.fspath(uri_or_db)) if isinstance(uri_or_db, (str, os.PathLike)) else uri_or_db
    schema = _schema(pa, index.dimension)
    space = index.space.id
    # Every page before anything changes: a refused page left a table of some pages, after
    # replace had dropped the old ones.
    check_pages(index, "LanceDB", None if normalize else _check_unit_length)
    existing = None
    if not replace:
        try:
            existing = db.open_table(table)
        except ValueError:  # "Table '...' was not found"
            existing = None
    if existing is not None:
        have = existing.schema.field(VECTOR_COLUMN).type if VECTOR_COLUMN in existing.schema.names else None
        if have != schema.field(VECTOR_COLUMN).type:
            raise InputError(f"LanceDB table {table!r} has no {VECTOR_COLUMN!r} multivector column of dimension "
                             f"{index.dimension} (it has {have}); pass replace=True (--replace) to overwrite it",
                             input_name="table")
        held = existing.head(1).column("embedding_space").to_pylist() if "embedding_space" in existing.schema.names else []
        check_held_space(held[0] if held else None, space, f"LanceDB table {table!r}")
        # Merged batch by batch (one commit each): a run cut short leaves the pages merged so
        # far, and the rerun merges the rest.
        for data in _record_batches(pa, index, schema, space, normalize, batch_size):
            existing.merge_insert("page_id").when_matched_update_all().when_not_matched_insert_all().execute(
                pa.Table.from_batches([data]))
        return existing
    return _create_table(db, table, schema, _record_batches(pa, index, schema, space, normalize, batch_size), replace)


def _record_batches(pa: Any, index: Any, schema: Any, space: str, normalize: bool, batch_size: int) -> Iterator[Any]:
    batch: list[StoredPage] = []
    for page in iter_pages(index):
        batch.append(page)
        if len(batch) >= batch_size:
            yield pa.RecordBatch.from_pylist([_row(p, space, normalize) for p in batch], schema=schema)
            batch.clear()
    if batch:
        yield pa.RecordBatch.from_pylist([_row(p, space, normalize) for p in batch], schema=schema)


def _create_table(db: Any, table: str, schema: Any, batches: Iterator[Any], replace: bool) -> Any:
    """A new (or replacing) table written from ``batches`` as one Lance commit: a run killed or
    failing half way leaves no table, or the old one whole, never a table of some pages (the
    old code created an empty table first, then added batch by batch).

    Lance reads the iterator from its own code and reports a Python exception as a bare
    ``RuntimeError("Arrow error: ...")``; the original is raised instead, so a Ctrl-C stays a
    ``KeyboardInterrupt`` and an ``OSError`` keeps its errno."""
    mode = "overwrite" if replace else "create"
    first = next(batches, None)
    if first is None:  # lancedb cannot create a table from an empty iterator
        return db.create_table(table, schema=schema, mode=mode)
    raised: list[BaseException] = []

    def watched() -> Iterator[Any]:
        try:
            yield first
            yield from batches
        except BaseException as exc:
            raised.append(exc)
            raise

    try:
        return db.create_table(table, data=watched(), schema=schema, mode=mode)
    except Exception:
        if raised:
            raise raised[0] from None
        raise


def _check_unit_length(page: StoredPage) -> None:
    norms = np.linalg.norm(page.vectors, axis=1)
    if np.any(np.abs(norms - 1.0) > UNIT_TOLERANCE):
        worst = float(norms[np.argmax(np.abs(norms - 1.0))])
        raise InputError(f"page {page.page_id!r} has a vector of length {worst:.4f}: LanceDB scores multivectors by "
                         "cosine only, which equals the index's MaxSim only for unit-length vectors; pass "
                         "normalize=True (--normalize) to store them normalized", input_name="index")


def _row(page: StoredPage, space: str, normalize: bool) -> dict[str, Any]:
    vectors = page.vectors
    if normalize:
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1), np.float32(1e-12))[:, None]
    return {"page_id": page.page_id, "doc_id": page.doc_id, "page_number": page.page_number,
            "metadata": json.dumps(dict(page.metadata), ensure_ascii=False, sort_keys=True),
            "embedding_space": space, VECTOR_COLUMN: vectors.astype(np.float32).tolist()}


def search_lancedb(table: Any, queries: Sequence[np.ndarray] | np.ndarray, k: int = 5) -> list[list[PageHit]]:
    """Best ``k`` pages per query (a ``(tokens, dim)`` matrix, or a list of them) by LanceDB's
    multivector search, as :class:`PageHit` with ``score`` = MaxSim over cosine similarity."""
    q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
    out = []
    for q in q_list:
        matrix = np.asarray(q, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise InputError(f"a query must be a non-empty (tokens, dim) matrix, got shape {matrix.shape}",
                             input_name="queries")
        rows = (table.search(matrix, vector_column_name=VECTOR_COLUMN).distance_type("cosine").limit(k)
                .select(["page_id", "doc_id", "page_number", "metadata", "_distance"]).to_list())
        out.append([PageHit(r["doc_id"], int(r["page_number"]), float(matrix.shape[0] - r["_distance"]),
                            json.loads(r["metadata"]), page_id=r["page_id"]) for r in rows])
    return out
