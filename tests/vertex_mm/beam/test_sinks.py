"""The sinks write files that read back to the same rows: JSONL, Parquet, Vector Search input."""

from __future__ import annotations

import glob
import json
import pathlib

import pytest

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
beam = pytest.importorskip("apache_beam", reason=BEAM_SKIP)

from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402

from vertex_mm.beam import RestrictsMapping, WriteJsonl, WriteParquet, WriteToBigQueryTable, WriteVectorSearch  # noqa: E402
from vertex_mm.beam.records import dead_letter_row  # noqa: E402
from vertex_mm.errors import InvalidImageError  # noqa: E402

SPACE = "vertex/multimodalembedding@001/4"
ROWS = [
    {"id": f"img-{i}", "embedding": [i + 0.5, -1.0, 0.25, 2.0], "embedding_space": SPACE,
     "metadata": {"label": ["cat", "dog"][i % 2], "year": 2020 + i}}
    for i in range(5)
]
DEAD = [dead_letter_row("bad", InvalidImageError("bad: cannot be decoded"), stage="embed", source="/x/bad.jpg")]


def _read_jsonl(pattern):
    files = sorted(glob.glob(pattern))
    assert files, f"nothing matches {pattern}"
    return [json.loads(line) for f in files for line in pathlib.Path(f).read_text(encoding="utf-8").splitlines()]


def test_jsonl_round_trips_embeddings_and_dead_letters(tmp_path):
    with BeamTestPipeline() as p:
        _ = p | "rows" >> beam.Create(ROWS) | "emb" >> WriteJsonl(str(tmp_path / "embeddings"))
        _ = p | "dead" >> beam.Create(DEAD) | "dl" >> WriteJsonl(str(tmp_path / "dead_letter"), shard_name_template="")
    assert sorted(_read_jsonl(str(tmp_path / "embeddings-*.jsonl")), key=lambda r: r["id"]) == ROWS
    assert _read_jsonl(str(tmp_path / "dead_letter.jsonl")) == DEAD


def test_parquet_round_trips_with_the_documented_schema(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra")
    with BeamTestPipeline() as p:
        _ = p | "rows" >> beam.Create(ROWS) | "emb" >> WriteParquet(str(tmp_path / "embeddings"))
        _ = p | "dead" >> beam.Create(DEAD) | "dl" >> WriteParquet(str(tmp_path / "dead"), dead_letter=True)
    table = pq.read_table(glob.glob(str(tmp_path / "embeddings-*.parquet")))
    assert table.schema.names == ["id", "embedding", "embedding_space", "metadata"]
    got = sorted(table.to_pylist(), key=lambda r: r["id"])
    assert [r["id"] for r in got] == [r["id"] for r in ROWS]
    assert got[3]["embedding"] == [3.5, -1.0, 0.25, 2.0]  # exact in float32
    assert json.loads(got[3]["metadata"]) == ROWS[3]["metadata"]
    dead = pq.read_table(glob.glob(str(tmp_path / "dead-*.parquet"))).to_pylist()
    assert [(r["id"], r["error_type"], r["stage"]) for r in dead] == [("bad", "InvalidImageError", "embed")]


def test_vector_search_files_hold_one_datapoint_per_row(tmp_path):
    with BeamTestPipeline() as p:
        mapping = RestrictsMapping(token_keys=["label"], numeric_keys=["year"], embedding_metadata=False)
        _ = p | beam.Create(ROWS) | WriteVectorSearch(str(tmp_path / "vs" / "embeddings"), mapping=mapping, space=SPACE)
    files = glob.glob(str(tmp_path / "vs" / "*.json"))
    assert files and all(f.endswith(".json") for f in files)
    records = sorted(_read_jsonl(str(tmp_path / "vs" / "*.json")), key=lambda r: r["id"])
    assert records[1] == {"id": "img-1", "embedding": [1.5, -1.0, 0.25, 2.0],
                          "restricts": [{"namespace": "label", "allow": ["dog"]}],
                          "numeric_restricts": [{"namespace": "year", "value_int": 2021}]}
    assert len(records) == len(ROWS)


def test_nan_in_metadata_is_written_as_null_in_jsonl_and_vector_search_files(tmp_path):
    # Bare NaN tokens made lines no strict JSON reader (Vector Search, BigQuery) takes.
    row = {**ROWS[0], "metadata": {"price": float("nan"), "label": "cat"}}
    with BeamTestPipeline() as p:
        rows = p | beam.Create([row])
        _ = rows | "jsonl" >> WriteJsonl(str(tmp_path / "emb"), shard_name_template="")
        _ = rows | "vs" >> WriteVectorSearch(str(tmp_path / "vs" / "emb"), space=SPACE)
    for path in (tmp_path / "emb.jsonl", *pathlib.Path(tmp_path / "vs").glob("*.json")):
        line = path.read_text(encoding="utf-8").strip()
        assert "NaN" not in line, f"{path}: {line}"  # a bare NaN token is not JSON
        record = json.loads(line)
        assert (record.get("metadata") or record["embedding_metadata"])["price"] is None


def test_bigquery_sink_carries_the_documented_schema():
    sink = WriteToBigQueryTable("my-project:my_dataset.embeddings", method="FILE_LOADS")
    assert [f["name"] for f in sink.schema["fields"]] == ["id", "embedding", "embedding_space", "metadata"]
    assert sink.write_kwargs["method"] == "FILE_LOADS"
    dead = WriteToBigQueryTable("my-project:my_dataset.dead_letter", dead_letter=True)
    assert [f["name"] for f in dead.schema["fields"]][:3] == ["id", "error_type", "error"]
