"""What every export makes sure of before its target sees the output: ids and metadata the target
can store (a file name that is not UTF-8 reaches Python with lone surrogates), a batch folder
whole or absent, a store left as it was when a page is refused (``--replace`` dropped it first),
no pages of two models in one store, and values the target's types hold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vertex_mm.errors import EmbeddingSpaceMismatchError, InputError
from vertex_mm.index import FlatIndex, MultiVectorIndex
from vertex_mm.index.export import export_batch, export_parquet, qdrant, to_record
from vertex_mm.index.export import lancedb as lance
from vertex_mm.index.export.vector_search2 import collection_body, export_data_objects, iter_data_objects
from vertex_mm.results import EmbeddingSpace

NOT_UTF8 = "caf\udce9.jpg"  # how os.listdir hands over the Latin-1 name b"caf\xe9.jpg"


@pytest.fixture
def flat(space, make_vectors):
    index = FlatIndex(space)
    index.add(["a.jpg", "b.jpg", "c.jpg", NOT_UTF8], make_vectors(4, seed=1), [{"n": i} for i in range(4)])
    return index


@pytest.mark.parametrize("write", [
    lambda index, out: export_batch(index, out, shard_rows=2),
    lambda index, out: export_data_objects(index, out, shard_rows=2),
], ids=["vector-search", "vector-search-2"])
def test_a_row_refused_mid_export_leaves_no_batch_folder_and_the_rerun_works(flat, tmp_path, write):
    out = tmp_path / "batch"
    with pytest.raises(InputError, match=r"id 'caf\\udce9.jpg' is not valid UTF-8 text .* stores UTF-8 strings only"):
        write(flat, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the folder nor its half-written shards
    flat.delete([NOT_UTF8])
    paths = write(flat, out)
    assert all(p.parent == out and p.is_file() for p in paths)
    assert sum(len(p.read_text().splitlines()) for p in paths) == 3
    out_empty = tmp_path / "empty"
    out_empty.mkdir()  # an empty folder is taken, as before
    assert all(p.parent == out_empty for p in write(flat, out_empty))


def test_delete_ids_are_checked_before_anything_is_written(flat, tmp_path):
    flat.delete([NOT_UTF8])
    out = tmp_path / "batch"
    with pytest.raises(InputError, match=r"both written and deleted in one batch: \['b.jpg'\]"):
        export_batch(flat, out, delete_ids=["x.jpg", "b.jpg"])
    with pytest.raises(InputError, match="holds a line break"):
        export_batch(flat, out, delete_ids=["x\ny"])
    assert not out.exists()
    paths = export_batch(flat, out, delete_ids=["x.jpg"])
    assert (out / "delete" / "ids.txt").read_text() == "x.jpg\n" and paths[-1] == out / "delete" / "ids.txt"


def test_parquet_and_records_refuse_text_the_target_cannot_store(flat, tmp_path):
    pytest.importorskip("pyarrow")
    with pytest.raises(InputError, match="BigQuery stores UTF-8 strings only"):
        export_parquet(flat, tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match=r"the metadata of 'a.jpg' holds text that is not valid UTF-8"):
        to_record("a.jpg", np.ones(2, np.float32), {"path": f"/photos/{NOT_UTF8}"})


def test_bigquery_columns_are_compared_without_case_and_ints_must_fit_int64(space, make_vectors, tmp_path):
    pytest.importorskip("pyarrow")
    index = FlatIndex(space)
    index.add(["a", "b"], make_vectors(2), [{"ID": "x", "n": 1, "Year": 1, "year": 2}, {"n": 2**70}])
    with pytest.raises(InputError, match="'ID' clashes with the column 'id'"):
        export_parquet(index, tmp_path / "o.parquet", columns=["ID"])
    with pytest.raises(InputError, match="'year' clashes with the column 'Year'"):
        export_parquet(index, tmp_path / "o.parquet", columns=["Year", "year"])
    with pytest.raises(InputError, match=r"metadata 'n' of 'b' is 1180591620717411303424, beyond BigQuery's INT64"):
        export_parquet(index, tmp_path / "o.parquet", columns=["n"])


def test_numeric_restricts_hold_64_bit_ints_only():
    rec = to_record("a", np.ones(2, np.float32), {"big": 2**63, "ok": 2**63 - 1, "neg": -(2**63)})
    assert rec["numeric_restricts"] == [{"namespace": "ok", "value_int": 2**63 - 1},
                                        {"namespace": "neg", "value_int": -(2**63)}]
    assert rec["embedding_metadata"]["big"] == 2**63  # still travels with the row


def test_vector_search_2_objects_match_the_collection_schema_when_values_are_none(space, make_vectors):
    index = FlatIndex(space)
    index.add(["a", "b", "c"], make_vectors(3), [{"tag": "x", "year": 2020}, {"tag": None, "year": 2021.5},
                                                  {"year": None}])
    properties = collection_body(index)["dataSchema"]["properties"]
    assert properties["tag"] == {"type": "string"} and properties["year"] == {"type": "number"}
    kinds = {"string": str, "number": (int, float)}
    for _, obj in iter_data_objects(index):
        for key, value in obj["data"].items():  # every value the schema's type: null is left out
            assert isinstance(value, kinds[properties[key]["type"]]), (key, value)
    assert [sorted(obj["data"]) for _, obj in iter_data_objects(index)] == [
        ["embedding_space", "source_id", "tag", "year"], ["embedding_space", "source_id", "year"],
        ["embedding_space", "source_id"]]


def _pages(space: EmbeddingSpace, pages: list[np.ndarray], doc: str = "a.pdf") -> MultiVectorIndex:
    index = MultiVectorIndex(space)
    index.add(doc, pages)
    return index


def _unit(n: int, seed: int, dim: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.standard_normal((5, dim)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def test_lancedb_replace_that_fails_keeps_the_old_table_and_models_never_mix(tmp_path):
    pytest.importorskip("lancedb")
    space = EmbeddingSpace("test", "colpali", 32)
    good = _pages(space, _unit(30, 0))
    lance.export_lancedb(good, tmp_path / "db")
    bad_pages = _unit(30, 1)
    bad_pages[25] = bad_pages[25] * 2  # not unit length: refused
    with pytest.raises(InputError, match=r"page 'a.pdf#26' has a vector of length 2\.000"):
        lance.export_lancedb(_pages(space, bad_pages), tmp_path / "db", replace=True, batch_size=8)
    assert len(lance.export_lancedb(good, tmp_path / "db")) == 30  # the old table, whole (merged on page_id)
    other = _pages(EmbeddingSpace("test", "colqwen2", 32), _unit(2, 3), doc="b.pdf")
    with pytest.raises(EmbeddingSpaceMismatchError, match="holds pages of test/colpali/32, this index test/colqwen2/32"):
        lance.export_lancedb(other, tmp_path / "db")
    assert len(lance.export_lancedb(other, tmp_path / "db", replace=True)) == 2


def test_qdrant_replace_that_fails_keeps_the_old_collection_and_models_never_mix(tmp_path):
    pytest.importorskip("qdrant_client")
    space = EmbeddingSpace("test", "colpali", 32)
    client = qdrant.export_qdrant(_pages(space, _unit(10, 0)), ":memory:")
    bad = _pages(space, _unit(10, 1), doc=NOT_UTF8)
    with pytest.raises(InputError, match="Qdrant stores UTF-8 strings only"):
        qdrant.export_qdrant(bad, client, replace=True, batch_size=4)
    assert client.count("pages").count == 10
    other = _pages(EmbeddingSpace("test", "colqwen2", 32), _unit(2, 3), doc="b.pdf")
    with pytest.raises(EmbeddingSpaceMismatchError, match="Qdrant collection 'pages' holds pages of test/colpali/32"):
        qdrant.export_qdrant(other, client)
    qdrant.export_qdrant(other, client, replace=True)
    assert client.count("pages").count == 2
    meta = json.loads(json.dumps(client.scroll("pages", limit=1)[0][0].payload))
    assert meta["embedding_space"] == "test/colqwen2/32"


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, lambda: OSError(5, "Input/output error")],
                         ids=["ctrl-c", "read-error"])
def test_lancedb_replace_cut_short_keeps_the_old_table_whole_and_raises_the_original(tmp_path, monkeypatch, interruption):
    pytest.importorskip("lancedb")
    space = EmbeddingSpace("test", "colpali", 32)
    lance.export_lancedb(_pages(space, _unit(30, 0)), tmp_path / "db")
    real = lance.iter_pages

    def cut_short(index):  # pages read from the index, then Ctrl-C (or a failing disk) at page 13
        for n, page in enumerate(real(index)):
            if n == 12:
                raise interruption()
            yield page

    monkeypatch.setattr(lance, "iter_pages", cut_short)
    with pytest.raises((KeyboardInterrupt, OSError)) as caught:
        lance.export_lancedb(_pages(space, _unit(20, 1), doc="b.pdf"), tmp_path / "db", replace=True, batch_size=4)
    assert type(caught.value) in (KeyboardInterrupt, OSError) and not isinstance(caught.value, RuntimeError)
    monkeypatch.undo()
    import lancedb

    table = lancedb.connect(tmp_path / "db").open_table(lance.DEFAULT_TABLE)
    assert table.count_rows() == 30 and set(table.to_arrow().column("doc_id").to_pylist()) == {"a.pdf"}


def test_lancedb_export_of_an_empty_index_makes_an_empty_table(tmp_path):
    pytest.importorskip("lancedb")
    empty = MultiVectorIndex(EmbeddingSpace("test", "colpali", 32))
    assert lance.export_lancedb(empty, tmp_path / "db").count_rows() == 0


def test_qdrant_replace_swaps_an_alias_and_a_run_cut_short_leaves_the_old_pages_searchable(tmp_path, monkeypatch):
    pytest.importorskip("qdrant_client")
    space = EmbeddingSpace("test", "colpali", 32)
    client = qdrant.export_qdrant(_pages(space, _unit(10, 0)), ":memory:")
    qdrant.export_qdrant(_pages(space, _unit(6, 1), doc="b.pdf"), client, replace=True, batch_size=4)
    first = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    assert list(first) == ["pages"] and client.count("pages").count == 6
    assert {c.name for c in client.get_collections().collections} == {first["pages"]}  # the old one is gone
    real = qdrant.iter_pages

    def cut_short(index):  # Ctrl-C after 5 pages
        for n, page in enumerate(real(index)):
            if n == 5:
                raise KeyboardInterrupt
            yield page

    monkeypatch.setattr(qdrant, "iter_pages", cut_short)
    with pytest.raises(KeyboardInterrupt):
        qdrant.export_qdrant(_pages(space, _unit(8, 2), doc="c.pdf"), client, replace=True, batch_size=2)
    monkeypatch.undo()
    assert {c.name for c in client.get_collections().collections} == {first["pages"]}  # no half-filled leftover
    hits = qdrant.search_qdrant(client, _unit(1, 1)[0], k=10)[0]
    assert {h.doc_id for h in hits} == {"b.pdf"} and len(hits) == 6
    qdrant.export_qdrant(_pages(space, _unit(8, 2), doc="c.pdf"), client, replace=True)
    second = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    assert second["pages"] != first["pages"] and client.count("pages").count == 8
    assert {c.name for c in client.get_collections().collections} == {second["pages"]}
    qdrant.export_qdrant(_pages(space, _unit(2, 3), doc="d.pdf"), client)  # a merge goes through the alias
    assert client.count(second["pages"]).count == 10


def test_the_check_pass_over_ids_reads_no_token_matrices(tmp_path):
    from vertex_mm.index.export._pages import check_pages, iter_pages

    space = EmbeddingSpace("test", "colpali", 32)
    index = _pages(space, _unit(5, 0))
    index.save(tmp_path / "idx")
    loaded = MultiVectorIndex.load(tmp_path / "idx")
    ids_only = list(iter_pages(loaded, vectors=False))
    assert [p.page_id for p in ids_only] == loaded.page_ids() and all(p.vectors.size == 0 for p in ids_only)
    assert [p.vectors.shape[1] for p in iter_pages(loaded)] == [32] * 5
    seen: list[int] = []
    check_pages(loaded, "test", lambda page: seen.append(page.vectors.shape[1]))  # a check that needs the tokens gets them
    assert seen == [32] * 5
