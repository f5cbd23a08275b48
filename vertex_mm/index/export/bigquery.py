"""Export an index to Parquet for BigQuery ``VECTOR_SEARCH`` (needs ``vertex-mm[parquet]``).

The columns are those of vertex-mm's other BigQuery outputs (:mod:`vertex_mm.beam.schema`):
``id`` STRING, ``embedding`` list<float32> (loads as ``ARRAY<FLOAT64>``), ``embedding_space``
STRING and ``metadata`` JSON text; ``columns=[...]`` also copies chosen metadata keys into
columns of their own, for plain ``WHERE`` filters. Then::

    bq load --source_format=PARQUET --parquet_enable_list_inference=true \\
        mydataset.photos photos.parquet
    SELECT base.id, distance FROM VECTOR_SEARCH(
        TABLE mydataset.photos, 'embedding',
        (SELECT embedding FROM mydataset.queries), top_k => 10, distance_type => 'COSINE')

Query vectors must come from the same ``embedding_space``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..._optional import require
from ...errors import InputError
from ..base import BaseIndex
from ._output import check_row_text

__all__ = ["export_parquet"]

_ROWS_PER_GROUP = 16384


def export_parquet(index: BaseIndex, path: str | os.PathLike[str], *, columns: Sequence[str] = ()) -> Path:
    """Write the live rows of ``index`` to one Parquet file (atomically). Returns its path."""
    pa = require("parquet", "pyarrow", what="Parquet export")
    pq = require("parquet", "pyarrow.parquet", what="Parquet export")
    # BigQuery compares column names without case: `ID` is `id` there, and `bq load` fails on it.
    seen: dict[str, str] = {name: name for name in ("id", "embedding", "embedding_space", "metadata")}
    for name in columns:
        other = seen.get(name.lower())
        if other is not None:
            raise InputError(f"metadata column {name!r} clashes with the column {other!r} (BigQuery column names "
                             "ignore case, and id, embedding, embedding_space and metadata are the export's own)",
                             input_name="columns")
        seen[name.lower()] = name
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    schema_fields: list[tuple[str, Any]] = [
        ("id", pa.string()),
        ("embedding", pa.list_(pa.float32())),
        ("embedding_space", pa.string()),
        ("metadata", pa.string()),
    ]
    extra = _column_types(index, columns, pa)
    schema = pa.schema(schema_fields + extra)
    space = index.space.id
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for ids, vecs, metas in index.iter_rows(_ROWS_PER_GROUP):
                for id_, meta in zip(ids, metas):
                    check_row_text(id_, meta, "BigQuery")
                data: dict[str, Any] = {
                    "id": ids,
                    "embedding": pa.FixedSizeListArray.from_arrays(vecs.reshape(-1), index.dimension).cast(
                        pa.list_(pa.float32())),
                    "embedding_space": [space] * len(ids),
                    "metadata": [json.dumps(m, ensure_ascii=False, sort_keys=True) for m in metas],
                }
                for name, _ in extra:
                    data[name] = [m.get(name) for m in metas]
                writer.write_table(pa.table(data, schema=schema))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _column_types(index: BaseIndex, columns: Sequence[str], pa: Any) -> list[tuple[str, Any]]:
    """An Arrow type per promoted metadata key, from the values it holds (all must agree)."""
    out = []
    for name in columns:
        kinds: set[type] = set()
        for _, _, metas in index.iter_rows():
            kinds.update(type(m[name]) for m in metas if m.get(name) is not None)
        if kinds <= {str}:
            out.append((name, pa.string()))
        elif kinds <= {bool}:
            out.append((name, pa.bool_()))
        elif kinds <= {int}:
            for ids, _, metas in index.iter_rows():
                for id_, m in zip(ids, metas):
                    if not isinstance(m.get(name), int) or -(2**63) <= m[name] < 2**63:
                        continue
                    raise InputError(f"metadata {name!r} of {id_!r} is {m[name]}, beyond BigQuery's INT64; leave it in "
                                     "the metadata JSON column", input_name="columns")
            out.append((name, pa.int64()))
        elif kinds <= {int, float}:
            out.append((name, pa.float64()))
        else:
            raise InputError(f"metadata key {name!r} holds mixed or nested values "
                             f"({sorted(k.__name__ for k in kinds)}); leave it in the metadata JSON column",
                             input_name="columns")
    return out
