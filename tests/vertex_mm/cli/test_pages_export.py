"""``vertex-mm pages export INDEX --to qdrant|lancedb PATH``: the stores it writes answer with
our MaxSim top-k, on synthetic pages and on the PDF fixture embedded by the regions model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_fixtures import PDF_FIXTURE, queries, ragged_pages, rng

from vertex_mm.cli import main
from vertex_mm.index import MultiVectorIndex
from vertex_mm.index.export.lancedb import search_lancedb
from vertex_mm.index.export.qdrant import search_qdrant
from vertex_mm.results import EmbeddingSpace

__all__ = ["queries", "ragged_pages", "rng"]  # fixtures


def _ids(hits):
    return [[h.page_id for h in row] for row in hits]


def _export_and_compare(idx_path, tmp_path, query_vectors, k, capsys):
    import lancedb
    from qdrant_client import QdrantClient

    index = MultiVectorIndex.load(idx_path)
    ours = _ids(index.search(query_vectors, k=k))
    assert main(["pages", "export", str(idx_path), "--to", "qdrant", str(tmp_path / "q")]) == 0
    assert f"exported {len(index)} pages" in capsys.readouterr().out
    client = QdrantClient(path=str(tmp_path / "q"))
    try:
        assert _ids(search_qdrant(client, query_vectors, k=k)) == ours
    finally:
        client.close()
    assert main(["pages", "export", str(idx_path), "--to", "lancedb", str(tmp_path / "l"), "--collection", "p"]) == 0
    assert "'p' now holds" in capsys.readouterr().out
    assert _ids(search_lancedb(lancedb.connect(str(tmp_path / "l")).open_table("p"), query_vectors, k=k)) == ours
    return ours


def test_export_cli_on_synthetic_pages(tmp_path, ragged_pages, queries, capsys):
    idx = MultiVectorIndex(EmbeddingSpace("test", "rand-mv", 32))
    idx.add("a.pdf", ragged_pages[:20])
    idx.add("b.pdf", ragged_pages[20:])
    idx.save(tmp_path / "idx")
    _export_and_compare(tmp_path / "idx", tmp_path, queries, 5, capsys)


def test_export_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["pages", "export", str(tmp_path / "nope"), "--to", "qdrant", str(tmp_path / "q")]) == 2
    assert "nope" in capsys.readouterr().err
    idx = MultiVectorIndex(EmbeddingSpace("test", "long", 4))
    idx.add("x", [np.full((2, 4), 2.0, np.float32)])
    idx.save(tmp_path / "idx")
    assert main(["pages", "export", str(tmp_path / "idx"), "--to", "lancedb", str(tmp_path / "l")]) == 2
    assert "--normalize" in capsys.readouterr().err
    assert main(["pages", "export", str(tmp_path / "idx"), "--to", "lancedb", str(tmp_path / "l"), "--normalize"]) == 0


@pytest.mark.slow
def test_export_cli_on_the_pdf_fixture_embedded_by_the_regions_model(tmp_path, capsys):
    pytest.importorskip("local_backend.pages")
    from vertex_mm.registry import load_page_retriever

    idx = tmp_path / "idx"
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus"), "--index", str(idx), "--embedder", "regions",
                 "--dpi", "36"]) == 0
    capsys.readouterr()
    texts = [json.loads(line)["text"] for line in (PDF_FIXTURE / "queries.jsonl").read_text().splitlines() if line.strip()]
    query_vectors = load_page_retriever(idx).embedder.embed_queries(texts)
    ours = _export_and_compare(idx, tmp_path, query_vectors, 5, capsys)
    assert len(ours) == len(texts) and all(len(row) == 5 for row in ours)
