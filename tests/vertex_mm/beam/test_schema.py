"""The documented table schemas match the rows the transforms emit (BigQuery, Parquet, Vector Search)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vertex_mm.beam.records import DEAD_LETTER_FIELDS, EMBEDDING_FIELDS, EmbedInput, dead_letter_row, embedding_row
from vertex_mm.beam.schema import (
    DEAD_LETTER_BIGQUERY_SCHEMA,
    EMBEDDINGS_BIGQUERY_SCHEMA,
    dead_letter_arrow_schema,
    embeddings_arrow_schema,
    to_table_row,
)
from vertex_mm.beam.vector_search import RestrictsMapping, vector_search_record
from vertex_mm.errors import EmbeddingSpaceMismatchError, InvalidImageError, ServiceUnavailableError
from vertex_mm.index.export.vector_search import to_record
from vertex_mm.results import EmbeddingSpace, MultiModalEmbeddingResponse

SPACE = EmbeddingSpace("vertex", "multimodalembedding@001", 4)

# What a BigQuery column of each type accepts from a JSON row (the insertAll / load format).
_BQ_PYTHON_TYPES = {"STRING": str, "FLOAT64": float, "BOOL": bool, "INT64": int}


def _embedding_row(metadata=None):
    response = MultiModalEmbeddingResponse(image_embedding=[0.1, -0.2, 0.3, 0.4], space=SPACE)
    return embedding_row(EmbedInput("cat-1", "image", "gs://bucket/cat.jpg", metadata or {"label": "cat"}), response, SPACE)


def _dead_rows():
    return [
        dead_letter_row("bad", InvalidImageError("bad: cannot be decoded", input_name="bad"), stage="embed",
                        source="/x/bad.jpg", metadata={"k": [1, 2]}),
        dead_letter_row("busy", ServiceUnavailableError("503", status_code=503), stage="embed"),
    ]


def _check_bigquery_row(row, schema):
    fields = {f["name"]: f for f in schema["fields"]}
    assert set(row) == set(fields), "the row and the schema name the same columns"
    for name, f in fields.items():
        value = row[name]
        if value is None:
            assert f["mode"] == "NULLABLE", f"{name} is null but {f['mode']}"
            continue
        kind = _BQ_PYTHON_TYPES[f["type"]]
        if f["mode"] == "REPEATED":
            assert isinstance(value, list) and all(isinstance(v, kind) for v in value), name
        else:
            assert isinstance(value, kind) and not (kind is int and isinstance(value, bool)), name


def test_bigquery_schemas_list_exactly_the_row_fields_in_order():
    assert tuple(f["name"] for f in EMBEDDINGS_BIGQUERY_SCHEMA["fields"]) == EMBEDDING_FIELDS
    assert tuple(f["name"] for f in DEAD_LETTER_BIGQUERY_SCHEMA["fields"]) == DEAD_LETTER_FIELDS


def test_embedding_rows_fit_the_bigquery_schema():
    row = to_table_row(_embedding_row())
    _check_bigquery_row(row, EMBEDDINGS_BIGQUERY_SCHEMA)
    assert json.loads(row["metadata"]) == {"label": "cat"}


def test_dead_letter_rows_fit_the_bigquery_schema():
    for row in _dead_rows():
        _check_bigquery_row(to_table_row(row), DEAD_LETTER_BIGQUERY_SCHEMA)


def test_metadata_that_json_cannot_hold_is_kept_as_text():
    import datetime

    row = to_table_row(_embedding_row({"when": datetime.date(2024, 5, 1)}))
    assert json.loads(row["metadata"]) == {"when": "2024-05-01"}


def test_metadata_with_nan_or_mixed_keys_is_strict_json():
    # Bare NaN tokens are not JSON (BigQuery refuses them), and sort_keys failed on mixed keys.
    row = to_table_row(_embedding_row({"price": float("nan"), "w": np.float32("inf"), 3: "three", "label": "cat"}))
    assert json.loads(row["metadata"]) == {"price": None, "w": None, "3": "three", "label": "cat"}


def test_bigquery_schema_parses_as_a_beam_table_schema():
    pytest.importorskip("apache_beam.io.gcp.bigquery_tools", reason="needs apache-beam[gcp]")
    from apache_beam.io.gcp.bigquery_tools import get_bq_tableschema

    for schema in (EMBEDDINGS_BIGQUERY_SCHEMA, DEAD_LETTER_BIGQUERY_SCHEMA):
        parsed = get_bq_tableschema(schema)
        assert [f.name for f in parsed.fields] == [f["name"] for f in schema["fields"]]
        assert [f.mode for f in parsed.fields] == [f["mode"] for f in schema["fields"]]


def test_rows_fit_the_parquet_schemas():
    pa = pytest.importorskip("pyarrow", reason="the parquet extra")
    table = pa.Table.from_pylist([to_table_row(_embedding_row())], schema=embeddings_arrow_schema())
    assert table.column("embedding").type == pa.list_(pa.float32())
    dead = pa.Table.from_pylist([to_table_row(r) for r in _dead_rows()], schema=dead_letter_arrow_schema())
    assert dead.column("status_code").to_pylist() == [None, 503]


def test_vector_search_record_follows_the_index_exporter_rules():
    row = _embedding_row({"label": "cat", "tags": ["pet", "indoor"], "year": 2024, "score": 0.5, "album": "a7"})
    mapping = RestrictsMapping(token_keys=["label", "tags", "absent"], numeric_keys=["year", "score"],
                               crowding_key="album", embedding_metadata=False)
    record = vector_search_record(row, mapping=mapping)
    assert record == {
        "id": "cat-1",
        "embedding": pytest.approx([0.1, -0.2, 0.3, 0.4]),
        "restricts": [{"namespace": "label", "allow": ["cat"]}, {"namespace": "tags", "allow": ["pet", "indoor"]}],
        "numeric_restricts": [{"namespace": "year", "value_int": 2024}, {"namespace": "score", "value_double": 0.5}],
        "crowding_tag": "a7",
    }
    # The same row through issue D's exporter gives the same record.
    assert record == to_record(row["id"], np.asarray(row["embedding"]), row["metadata"], mapping)


def test_vector_search_record_by_default_maps_every_metadata_key():
    record = vector_search_record(_embedding_row({"label": "cat", "year": 2024}))
    assert record["restricts"] == [{"namespace": "label", "allow": ["cat"]}]
    assert record["numeric_restricts"] == [{"namespace": "year", "value_int": 2024}]
    assert record["embedding_metadata"] == {"label": "cat", "year": 2024}


def test_vector_search_record_refuses_another_embedding_space():
    other = EmbeddingSpace("local", "conse-effnet-minilm", 4).id
    with pytest.raises(EmbeddingSpaceMismatchError, match="not comparable"):
        vector_search_record(_embedding_row(), space=other)
    assert vector_search_record(_embedding_row(), space=SPACE.id)["id"] == "cat-1"
