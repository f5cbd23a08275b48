"""Exports: Vector Search batch files, streaming updates through aiplatform (mocked at the gapic
client, since no Google endpoint is reachable here), and Parquet for BigQuery."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vertex_mm import Embeddings, EmbeddingSpace
from vertex_mm.errors import EmbeddingSpaceMismatchError
from vertex_mm.index import FlatIndex
from vertex_mm.index.export import (
    RestrictsMapping,
    export_batch,
    export_parquet,
    iter_batch_records,
    stream_remove,
    stream_upsert,
    to_record,
)

INDEX_NAME = "projects/my-proj/locations/us-central1/indexes/123"


@pytest.fixture
def photos(space, make_vectors):
    index = FlatIndex(space)
    metas = [{"name": f"p{i}.jpg", "tag": ["cat", "pet"] if i % 2 else "dog", "year": 2000 + i,
              "rating": i / 10, "album": f"a{i % 3}", "blocked": ["kids"] if i == 4 else []} for i in range(10)]
    index.add([f"p{i}" for i in range(10)], make_vectors(10, seed=3), metas)
    return index


def test_record_has_the_vector_search_fields():
    rec = to_record("p1", np.array([0.5, -0.25], np.float32),
                    {"tag": ["cat", "pet"], "year": 2021, "rating": 4.5, "album": "a1", "flag": True},
                    RestrictsMapping(crowding_key="album"))
    assert rec["id"] == "p1" and rec["embedding"] == [0.5, -0.25]
    assert rec["restricts"] == [{"namespace": "tag", "allow": ["cat", "pet"]}]
    assert rec["numeric_restricts"] == [{"namespace": "year", "value_int": 2021},
                                        {"namespace": "rating", "value_double": 4.5}]
    assert rec["crowding_tag"] == "a1"
    assert rec["embedding_metadata"]["flag"] is True


def test_mapping_can_pick_keys_and_deny_tokens():
    mapping = RestrictsMapping(token_keys=["tag"], numeric_keys=[], deny_keys={"tag": "blocked"},
                               embedding_metadata=False)
    rec = to_record("x", np.ones(2, np.float32), {"tag": "cat", "blocked": ["kids"], "year": 3}, mapping)
    assert rec["restricts"] == [{"namespace": "tag", "allow": ["cat"], "deny": ["kids"]}]
    assert "numeric_restricts" not in rec and "embedding_metadata" not in rec


def test_batch_files_hold_every_row_as_json_lines(tmp_path, photos):
    files = export_batch(photos, tmp_path / "root", shard_rows=4)
    assert [f.name for f in files] == [f"vectors-0000{i}-of-00003.json" for i in range(3)]
    assert [len(f.read_text().splitlines()) for f in files] == [4, 4, 2]
    records = list(iter_batch_records(tmp_path / "root"))
    assert [r["id"] for r in records] == photos.ids
    for r in records:
        assert len(r["embedding"]) == 32
        np.testing.assert_allclose(r["embedding"], np.asarray(photos.vector(r["id"]))[0], rtol=0, atol=0)
    assert records[1]["restricts"][0] == {"namespace": "name", "allow": ["p1.jpg"]}


def test_batch_export_writes_deletes_under_delete(tmp_path, photos):
    export_batch(photos, tmp_path / "root", delete_ids=["old1", "old2"])
    assert (tmp_path / "root" / "delete" / "ids.txt").read_text() == "old1\nold2\n"
    with pytest.raises(ValueError, match="both written and deleted"):
        export_batch(photos, tmp_path / "root2", delete_ids=["p1"])


def test_batch_export_refuses_a_non_empty_root(tmp_path, photos):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "stray.json").write_text("{}")
    with pytest.raises(FileExistsError, match="not empty"):
        export_batch(photos, tmp_path / "root")


def test_batch_export_never_exceeds_the_file_limit(tmp_path, space, make_vectors, monkeypatch):
    from vertex_mm.index.export import vector_search

    monkeypatch.setattr(vector_search, "MAX_BATCH_FILES", 3)
    index = FlatIndex(space)
    index.add([str(i) for i in range(10)], make_vectors(10))
    files = export_batch(index, tmp_path / "root", shard_rows=1)
    assert len(files) == 3 and sum(len(f.read_text().splitlines()) for f in files) == 10


def test_batch_records_round_trip_into_a_new_index(tmp_path, photos, space, make_vectors):
    export_batch(photos, tmp_path / "root")
    records = list(iter_batch_records(tmp_path / "root"))
    copy = FlatIndex(space)
    copy.add([r["id"] for r in records], Embeddings(np.array([r["embedding"] for r in records], np.float32), space),
             [r["embedding_metadata"] for r in records])
    q = make_vectors(3, seed=11)
    assert copy.search(q, k=5).ids == photos.search(q, k=5).ids


@pytest.fixture
def me_index(mocker):
    """A real aiplatform.MatchingEngineIndex whose gapic IndexServiceClient calls are mocked."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform.compat.types import index as gca_index
    from google.cloud.aiplatform_v1.services.index_service import IndexServiceClient

    resource = gca_index.Index(name=INDEX_NAME, display_name="photos",
                               index_update_method=gca_index.Index.IndexUpdateMethod.STREAM_UPDATE)
    resource.metadata = {"config": {"dimensions": 32}}
    mocks = {
        "get": mocker.patch.object(IndexServiceClient, "get_index", return_value=resource),
        "upsert": mocker.patch.object(IndexServiceClient, "upsert_datapoints"),
        "remove": mocker.patch.object(IndexServiceClient, "remove_datapoints"),
    }
    index = aiplatform.MatchingEngineIndex(index_name=INDEX_NAME, project="my-proj", location="us-central1",
                                           credentials=AnonymousCredentials())
    return index, mocks


def test_stream_upsert_sends_datapoints_in_batches(me_index, photos):
    index, mocks = me_index
    assert stream_upsert(index, photos, batch_size=4, mapping=RestrictsMapping(crowding_key="album")) == 10
    requests = [c.args[0] if c.args else c.kwargs["request"] for c in mocks["upsert"].call_args_list]
    assert [len(r.datapoints) for r in requests] == [4, 4, 2]
    assert all(r.index == INDEX_NAME for r in requests)
    dp = requests[0].datapoints[1]
    assert dp.datapoint_id == "p1"
    np.testing.assert_allclose(list(dp.feature_vector), np.asarray(photos.vector("p1"))[0], atol=1e-7)
    assert {(r.namespace, tuple(r.allow_list)) for r in dp.restricts} >= {("tag", ("cat", "pet"))}
    assert {r.namespace: r.value_int for r in dp.numeric_restricts if r.namespace == "year"} == {"year": 2001}
    assert dp.crowding_tag.crowding_attribute == "a1"
    assert dict(dp.embedding_metadata)["name"] == "p1.jpg"


def test_stream_upsert_of_chosen_ids(me_index, photos):
    index, mocks = me_index
    stream_upsert(index, photos, ids=["p3", "p7"])
    (call,) = mocks["upsert"].call_args_list
    request = call.args[0] if call.args else call.kwargs["request"]
    assert [d.datapoint_id for d in request.datapoints] == ["p3", "p7"]


def test_stream_remove_sends_ids(me_index):
    index, mocks = me_index
    assert stream_remove(index, ["p1", "p2", "p3"], batch_size=2) == 3
    sent = [list((c.args[0] if c.args else c.kwargs["request"]).datapoint_ids) for c in mocks["remove"].call_args_list]
    assert sent == [["p1", "p2"], ["p3"]]


def test_stream_upsert_refuses_a_vector_search_index_of_another_dimension(me_index, make_vectors):
    index, mocks = me_index
    other = EmbeddingSpace("test", "gaussian", 16)
    small = FlatIndex(other)
    small.add(["a"], Embeddings(np.ones((1, 16), np.float32), other))
    with pytest.raises(EmbeddingSpaceMismatchError, match="32-d"):
        stream_upsert(index, small)
    mocks["upsert"].assert_not_called()


def test_parquet_has_the_bigquery_columns(tmp_path, photos):
    pq = pytest.importorskip("pyarrow.parquet")
    path = export_parquet(photos, tmp_path / "photos.parquet", columns=["name", "year", "rating"])
    table = pq.read_table(path)
    assert table.column_names == ["id", "embedding", "embedding_space", "metadata", "name", "year", "rating"]
    pa = pytest.importorskip("pyarrow")
    emb_type = table.schema.field("embedding").type
    assert pa.types.is_list(emb_type) and emb_type.value_type == pa.float32()
    assert str(table.schema.field("year").type) == "int64"
    assert str(table.schema.field("rating").type) == "double"
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == photos.ids
    assert rows[2]["embedding_space"] == photos.space.id
    np.testing.assert_array_equal(np.array(rows[2]["embedding"], np.float32), np.asarray(photos.vector("p2"))[0])
    assert json.loads(rows[2]["metadata"])["tag"] == "dog"
    assert rows[2]["name"] == "p2.jpg"


def test_parquet_refuses_mixed_metadata_columns(tmp_path, photos):
    pytest.importorskip("pyarrow")
    with pytest.raises(ValueError, match="'tag' holds mixed"):
        export_parquet(photos, tmp_path / "x.parquet", columns=["tag"])
    assert not (tmp_path / "x.parquet").exists()
