"""Multi-vector pages exported to real embedded stores (qdrant-client local mode, LanceDB on
disk): each store, queried with the same query matrices, returns the same top-k pages as our
own exact MaxSim (:meth:`MultiVectorIndex.search`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.index import FlatIndex, MultiVectorIndex
from vertex_mm.index.export import lancedb as lance
from vertex_mm.index.export import qdrant
from vertex_mm.results import EmbeddingSpace

SPACE = EmbeddingSpace("test", "rand-mv", 32)
K = 10


@pytest.fixture
def index(tmp_path, ragged_pages):
    """40 pages of unit vectors in three documents, saved (float16) plus one unsaved document,
    with one document deleted: the export must see exactly the live pages."""
    idx = MultiVectorIndex(SPACE)
    docs = {"a.pdf": ragged_pages[:10], "b.pdf": ragged_pages[10:25], "c.pdf": ragged_pages[25:35]}
    for doc, pages in docs.items():
        idx.add(doc, pages, metadata=[{"source": f"/docs/{doc}", "width": 100 + i} for i in range(len(pages))])
    idx.save(tmp_path / "pages.idx")
    idx.add("d.pdf", ragged_pages[35:], metadata=[{"source": "/docs/d.pdf"}] * 5)
    idx.add("gone.pdf", ragged_pages[:2])
    idx.delete("gone.pdf")
    return idx


def _ids(hits):
    return [[h.page_id for h in row] for row in hits]


def _assert_same_topk(store_hits, ours, rtol=1e-4):
    assert _ids(store_hits) == _ids(ours)
    for s_row, o_row in zip(store_hits, ours):
        np.testing.assert_allclose([h.score for h in s_row], [h.score for h in o_row], rtol=rtol, atol=1e-4)
        assert [(h.doc_id, h.page_number, dict(h.metadata)) for h in s_row] == \
               [(h.doc_id, h.page_number, dict(h.metadata)) for h in o_row]


def test_qdrant_local_folder_gives_our_maxsim_topk(index, queries, tmp_path):
    client = qdrant.export_qdrant(index, tmp_path / "pages.qdrant")
    try:
        assert client.count("pages").count == len(index) == 40
        _assert_same_topk(qdrant.search_qdrant(client, queries, k=K), index.search(queries, k=K))
    finally:
        client.close()
    # Reopened from disk: the same answers; a second export upserts the same points.
    client = qdrant.export_qdrant(index, tmp_path / "pages.qdrant")
    try:
        assert client.count("pages").count == 40
        _assert_same_topk(qdrant.search_qdrant(client, queries, k=K), index.search(queries, k=K))
        point = client.retrieve("pages", [qdrant.point_id("b.pdf#3")], with_payload=True)[0]
        assert point.payload == {"page_id": "b.pdf#3", "doc_id": "b.pdf", "page_number": 3, "embedding_space": SPACE.id,
                                 "metadata": {"source": "/docs/b.pdf", "width": 102}}
    finally:
        client.close()


def test_qdrant_in_memory_and_collection_checks(index, queries):
    client = qdrant.export_qdrant(index, ":memory:", collection="mv")
    _assert_same_topk(qdrant.search_qdrant(client, queries[0], k=3, collection="mv"), index.search(queries[0], k=3))
    other = MultiVectorIndex(EmbeddingSpace("test", "other", 16))
    other.add("x", [np.eye(16, dtype=np.float32)[:3]])
    with pytest.raises(InputError, match="16-d"):
        qdrant.export_qdrant(other, client, collection="mv")
    qdrant.export_qdrant(other, client, collection="mv", replace=True)
    assert client.count("mv").count == 1


def test_a_refused_qdrant_export_leaves_the_collection_as_it_was(index, tmp_path):
    from qdrant_client import QdrantClient

    qdrant.export_qdrant(index, tmp_path / "q").close()
    other = MultiVectorIndex(EmbeddingSpace("test", "other", 16))
    other.add("x", [np.eye(16, dtype=np.float32)[:3]])
    with pytest.raises(InputError, match="replace=True"):
        qdrant.export_qdrant(other, tmp_path / "q")
    client = QdrantClient(path=str(tmp_path / "q"))
    assert client.count("pages").count == 40
    client.close()


def test_lancedb_gives_our_maxsim_topk(index, queries, tmp_path, capfd):
    table = lance.export_lancedb(index, tmp_path / "pages.lancedb")
    assert table.count_rows() == 40
    capfd.readouterr()
    _assert_same_topk(lance.search_lancedb(table, queries, k=K), index.search(queries, k=K), rtol=1e-3)
    # lance warns on stderr (from Rust) when a search's columns leave out the _distance it reads.
    assert "_distance" not in capfd.readouterr().err
    row = table.search().where("page_id = 'c.pdf#2'").to_list()[0]
    assert (row["doc_id"], row["page_number"], json.loads(row["metadata"])) == ("c.pdf", 2, {"source": "/docs/c.pdf",
                                                                                            "width": 101})
    # Exported again: merged on page_id, not duplicated.
    table = lance.export_lancedb(index, tmp_path / "pages.lancedb")
    assert table.count_rows() == 40


def test_lancedb_refuses_vectors_cosine_would_rank_differently(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE)
    idx.add("long.pdf", [p * 3 for p in ragged_pages[:4]])
    with pytest.raises(InputError, match="normalize"):
        lance.export_lancedb(idx, tmp_path / "db")
    table = lance.export_lancedb(idx, tmp_path / "db", normalize=True, replace=True)
    assert _ids(lance.search_lancedb(table, queries, k=2)) == _ids(idx.search([q * 3 for q in queries], k=2))


def test_single_vector_index_is_refused(tmp_path, space):
    with pytest.raises(InputError, match="multi-vector page index"):
        qdrant.export_qdrant(FlatIndex(space), ":memory:")
    with pytest.raises(InputError, match="multi-vector page index"):
        lance.export_lancedb(FlatIndex(space), tmp_path / "db")


def test_importing_the_exports_loads_no_store_package():
    import subprocess
    import sys

    code = ("import sys, vertex_mm, vertex_mm.index.export; "
            "bad = [m for m in ('qdrant_client', 'lancedb', 'google.cloud.vectorsearch_v1') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("module", "extra"), [("qdrant_client", "qdrant"), ("lancedb", "lancedb")])
def test_a_missing_store_package_names_its_extra(index, tmp_path, monkeypatch, module, extra):
    from vertex_mm.errors import MissingDependencyError

    monkeypatch.setitem(__import__("sys").modules, module, None)  # import now raises ImportError
    export = qdrant.export_qdrant if extra == "qdrant" else lance.export_lancedb
    with pytest.raises(MissingDependencyError, match=rf'pip install "vertex-mm\[{extra}\]"'):
        export(index, tmp_path / "store")
