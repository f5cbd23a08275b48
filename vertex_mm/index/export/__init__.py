"""Exports for when one machine is not enough: Vertex AI Vector Search (batch files and
streaming updates, :mod:`.vector_search`) and BigQuery ``VECTOR_SEARCH`` (Parquet,
:mod:`.bigquery`). Nothing here talks to Google until a streaming call is made."""

from __future__ import annotations

from .bigquery import export_parquet
from .vector_search import (
    RestrictsMapping,
    export_batch,
    iter_batch_records,
    stream_remove,
    stream_upsert,
    to_datapoint,
    to_record,
)

__all__ = [
    "RestrictsMapping",
    "export_batch",
    "export_parquet",
    "iter_batch_records",
    "stream_remove",
    "stream_upsert",
    "to_datapoint",
    "to_record",
]
