"""Table schemas of the output and dead-letter rows (BigQuery, Parquet), and the row converters.

BigQuery, for ``beam.io.WriteToBigQuery(table, schema=EMBEDDINGS_BIGQUERY_SCHEMA)``:

=================  ==========  ========  =================================================
column             type        mode      content
=================  ==========  ========  =================================================
id                 STRING      REQUIRED  the input's id
embedding          FLOAT64     REPEATED  the vector (BigQuery's ``VECTOR_SEARCH`` reads
                                         ``ARRAY<FLOAT64>``)
embedding_space    STRING      REQUIRED  ``backend/model/dimension[/variant]``: vectors are
                                         comparable only within one space
metadata           STRING      NULLABLE  the input's metadata as a JSON object text; query it
                                         with ``JSON_VALUE(metadata, '$.label')``
=================  ==========  ========  =================================================

``metadata`` is JSON text in a STRING column rather than BigQuery's JSON type because every
write method (file loads, streaming inserts, the Storage Write API) accepts a STRING.

The dead-letter table (``DEAD_LETTER_BIGQUERY_SCHEMA``) has ``id``, ``error_type``, ``error``,
``stage``, ``source`` (STRING), ``retryable`` (BOOL), ``status_code`` (INT64) and ``metadata``
(JSON text). Parquet files use the same columns, with the vector as ``list<float32>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._jsonl import plain_json

__all__ = [
    "DEAD_LETTER_BIGQUERY_SCHEMA",
    "EMBEDDINGS_BIGQUERY_SCHEMA",
    "dead_letter_arrow_schema",
    "embeddings_arrow_schema",
    "to_table_row",
]


def _field(name: str, type_: str, mode: str = "NULLABLE", description: str = "") -> dict[str, str]:
    return {"name": name, "type": type_, "mode": mode, "description": description}


EMBEDDINGS_BIGQUERY_SCHEMA: dict[str, Any] = {
    "fields": [
        _field("id", "STRING", "REQUIRED", "The input's id"),
        _field("embedding", "FLOAT64", "REPEATED", "The embedding vector"),
        _field("embedding_space", "STRING", "REQUIRED", "backend/model/dimension[/variant]"),
        _field("metadata", "STRING", "NULLABLE", "The input's metadata, a JSON object"),
    ]
}

DEAD_LETTER_BIGQUERY_SCHEMA: dict[str, Any] = {
    "fields": [
        _field("id", "STRING", "REQUIRED", "The input's id"),
        _field("error_type", "STRING", "REQUIRED", "The typed error's class, e.g. ImageTooLargeError"),
        _field("error", "STRING", "REQUIRED", "The error message: which input broke which limit"),
        _field("retryable", "BOOL", "REQUIRED", "Whether a later attempt could succeed (429, 5xx)"),
        _field("status_code", "INT64", "NULLABLE", "HTTP status of a service error"),
        _field("stage", "STRING", "REQUIRED", "input, embed or batch: where it failed"),
        _field("source", "STRING", "NULLABLE", "URI, path or size of the input's content"),
        _field("metadata", "STRING", "NULLABLE", "The input's metadata, a JSON object"),
    ]
}


def to_table_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An output or dead-letter row as a BigQuery / Parquet row: metadata becomes JSON text."""
    out = dict(row)
    out["metadata"] = json.dumps(plain_json(row.get("metadata") or {}), sort_keys=True, default=str, allow_nan=False)
    return out


def embeddings_arrow_schema() -> Any:
    """The Parquet schema of embedding rows (``pyarrow`` is imported here, not at import)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32()), nullable=False),
            pa.field("embedding_space", pa.string(), nullable=False),
            pa.field("metadata", pa.string()),
        ]
    )


def dead_letter_arrow_schema() -> Any:
    """The Parquet schema of dead-letter rows."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("error_type", pa.string(), nullable=False),
            pa.field("error", pa.string(), nullable=False),
            pa.field("retryable", pa.bool_(), nullable=False),
            pa.field("status_code", pa.int64()),
            pa.field("stage", pa.string(), nullable=False),
            pa.field("source", pa.string()),
            pa.field("metadata", pa.string()),
        ]
    )
