"""Exports for when one machine is not enough: Vertex AI Vector Search (batch files and
streaming updates, :mod:`.vector_search`; Vector Search 2.0 collections, :mod:`.vector_search2`),
BigQuery ``VECTOR_SEARCH`` (Parquet, :mod:`.bigquery`), and multi-vector pages in embedded
stores that score MaxSim themselves: Qdrant (:mod:`.qdrant`) and LanceDB (:mod:`.lancedb`).
Nothing here talks to Google until a streaming call is made, and each store's package is
imported only when its export runs."""

from __future__ import annotations

from .bigquery import export_parquet
from .lancedb import export_lancedb, search_lancedb
from .qdrant import export_qdrant, search_qdrant
from .vector_search import (
    RestrictsMapping,
    export_batch,
    iter_batch_records,
    stream_remove,
    stream_upsert,
    to_datapoint,
    to_record,
)
from .vector_search2 import collection_body, create_collection, export_data_objects, upsert_data_objects

__all__ = [
    "RestrictsMapping",
    "collection_body",
    "create_collection",
    "export_data_objects",
    "export_batch",
    "export_lancedb",
    "export_parquet",
    "export_qdrant",
    "iter_batch_records",
    "search_lancedb",
    "search_qdrant",
    "stream_remove",
    "stream_upsert",
    "to_datapoint",
    "to_record",
    "upsert_data_objects",
]
