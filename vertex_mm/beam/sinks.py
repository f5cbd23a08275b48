"""Where embedding and dead-letter rows go: JSONL, Parquet, Vertex AI Vector Search batch
files, BigQuery.

    out = inputs | EmbedImages(...)
    out.embeddings  | WriteJsonl("gs://b/run/embeddings")          # embeddings-00000-of-00004.jsonl
    out.dead_letter | WriteJsonl("gs://b/run/dead_letter")
    out.embeddings  | WriteParquet("gs://b/run/embeddings")
    out.embeddings  | WriteVectorSearch("gs://b/index-input/embeddings", mapping=RestrictsMapping(token_keys=["label"]))
    out.embeddings  | WriteToBigQueryTable("p:ds.embeddings")

Each is an ordinary Beam write: on Dataflow, paths are ``gs://`` prefixes and each worker
writes its own shards, finalised atomically when the job succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import apache_beam as beam

from .._jsonl import json_line, plain_json
from .schema import (
    DEAD_LETTER_BIGQUERY_SCHEMA,
    EMBEDDINGS_BIGQUERY_SCHEMA,
    dead_letter_arrow_schema,
    embeddings_arrow_schema,
    to_table_row,
)
from .vector_search import RestrictsMapping, vector_search_record

__all__ = ["WriteJsonl", "WriteParquet", "WriteToBigQueryTable", "WriteVectorSearch"]


def _shard_kwargs(num_shards: int, shard_name_template: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"num_shards": num_shards}
    if shard_name_template is not None:
        kwargs["shard_name_template"] = shard_name_template
    return kwargs


def _json_line(row: Mapping[str, Any]) -> str:
    # default=str: a metadata value JSON cannot hold (a datetime) is written as text, not lost;
    # NaN and inf in metadata as null (bare NaN tokens made lines no strict reader takes).
    clean = {k: plain_json(v) if k in ("metadata", "embedding_metadata") else v for k, v in row.items()}
    return json_line(clean, separators=(",", ":"), default=str, allow_nan=False)


class WriteJsonl(beam.PTransform):
    """Rows (embedding or dead-letter) as JSON Lines files ``{prefix}-SSSSS-of-NNNNN.jsonl``.

    ``num_shards=0`` lets the runner decide; ``shard_name_template=""`` writes exactly one
    file named ``{prefix}.jsonl`` (one worker writes it: fine for small outputs only).
    """

    def __init__(self, path_prefix: str, *, num_shards: int = 0, shard_name_template: str | None = None,
                 suffix: str = ".jsonl") -> None:
        super().__init__()
        self.path_prefix = path_prefix
        self.suffix = suffix
        self.shards = _shard_kwargs(num_shards, shard_name_template)

    def expand(self, rows: beam.PCollection) -> Any:
        return (
            rows
            | "ToJson" >> beam.Map(_json_line)
            | "Write" >> beam.io.WriteToText(self.path_prefix, file_name_suffix=self.suffix, **self.shards)
        )


class WriteParquet(beam.PTransform):
    """Rows as Parquet files ``{prefix}-SSSSS-of-NNNNN.parquet``; ``dead_letter=True`` for
    dead-letter rows. Metadata is stored as JSON text (see :mod:`vertex_mm.beam.schema`)."""

    def __init__(self, path_prefix: str, *, dead_letter: bool = False, num_shards: int = 0,
                 shard_name_template: str | None = None) -> None:
        super().__init__()
        self.path_prefix = path_prefix
        self.dead_letter = dead_letter
        self.shards = _shard_kwargs(num_shards, shard_name_template)

    def expand(self, rows: beam.PCollection) -> Any:
        schema = dead_letter_arrow_schema() if self.dead_letter else embeddings_arrow_schema()
        return (
            rows
            | "ToTableRow" >> beam.Map(to_table_row)
            | "Write" >> beam.io.WriteToParquet(self.path_prefix, schema, file_name_suffix=".parquet", **self.shards)
        )


class WriteVectorSearch(beam.PTransform):
    """Embedding rows in the Vertex AI Vector Search batch input format (JSON Lines, ``.json``).

    Point an index's ``contentsDeltaUri`` at the folder of ``path_prefix`` (keep other files
    out of it: Vector Search reads every file there). ``mapping`` (a
    :class:`~vertex_mm.index.export.RestrictsMapping`) says which metadata keys become token
    and numeric restricts and the crowding tag, as for ``export_batch`` of a local index. An
    index holds one embedding space: with ``space`` (its id), a row of another space fails the
    pipeline with :class:`~vertex_mm.errors.EmbeddingSpaceMismatchError`.
    """

    def __init__(self, path_prefix: str, *, mapping: RestrictsMapping | None = None, space: str | None = None,
                 num_shards: int = 0, shard_name_template: str | None = None) -> None:
        super().__init__()
        self.path_prefix = path_prefix
        self.mapping = mapping or RestrictsMapping()
        self.space = space
        self.shards = _shard_kwargs(num_shards, shard_name_template)

    def expand(self, rows: beam.PCollection) -> Any:
        mapping, space = self.mapping, self.space
        return (
            rows
            | "ToRecord" >> beam.Map(lambda row: vector_search_record(row, mapping=mapping, space=space))
            | "ToJson" >> beam.Map(_json_line)
            | "Write" >> beam.io.WriteToText(self.path_prefix, file_name_suffix=".json", **self.shards)
        )


class WriteToBigQueryTable(beam.PTransform):
    """``beam.io.WriteToBigQuery`` with the documented schema (:mod:`vertex_mm.beam.schema`);
    ``dead_letter=True`` for the dead-letter table. Other keywords (``method``,
    ``write_disposition``, ``custom_gcs_temp_location``, ...) go to ``WriteToBigQuery``."""

    def __init__(self, table: str, *, dead_letter: bool = False, **write_kwargs: Any) -> None:
        super().__init__()
        self.table = table
        self.schema = DEAD_LETTER_BIGQUERY_SCHEMA if dead_letter else EMBEDDINGS_BIGQUERY_SCHEMA
        write_kwargs.setdefault("create_disposition", beam.io.BigQueryDisposition.CREATE_IF_NEEDED)
        write_kwargs.setdefault("write_disposition", beam.io.BigQueryDisposition.WRITE_APPEND)
        self.write_kwargs = write_kwargs

    def expand(self, rows: beam.PCollection) -> Any:
        return (
            rows
            | "ToTableRow" >> beam.Map(to_table_row)
            | "Write" >> beam.io.WriteToBigQuery(self.table, schema=self.schema, **self.write_kwargs)
        )
