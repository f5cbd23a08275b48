"""`vertex-mm pages index|search`, the example and the evaluation table, end to end offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vertex_mm.cli import main

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("local_backend.pages")


@pytest.mark.slow
def test_cli_indexes_pdfs_and_searches(tmp_path, fixture_pdfs, capsys):
    idx = tmp_path / "idx"
    pdf = fixture_pdfs / "corpus" / "zoo-design.pdf"
    assert main(["pages", "index", str(pdf), str(fixture_pdfs / "corpus" / "effects-hex.pdf"), "--index", str(idx), "--dpi", "36", "--embedder", "local"]) == 0
    out = capsys.readouterr().out
    assert "indexed zoo-design: 2 pages" in out and "indexed effects-hex: 1 pages" in out
    assert main(["pages", "search", "--index", str(idx), "hexagon logo", "-k", "3", "--json", "--mode", "binary", "--embedder", "local"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert line["query"] == "hexagon logo"
    assert sorted((h["doc_id"], h["page"]) for h in line["hits"]) == [("effects-hex", 1), ("zoo-design", 1), ("zoo-design", 2)]


def test_cli_reports_a_missing_index_as_an_error(tmp_path, capsys):
    assert main(["pages", "search", "--index", str(tmp_path / "nope"), "anything", "--embedder", "local"]) == 1
    assert "not a multi-vector index" in capsys.readouterr().err


def two_pdfs(tmp_path, fixture_pdfs):
    """A folder holding two of the fixture's real PDFs (3 pages in all)."""
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name in ("zoo-design.pdf", "effects-hex.pdf"):
        (folder / name).write_bytes((fixture_pdfs / "corpus" / name).read_bytes())
    return folder


@pytest.mark.slow
def test_example_writes_html_with_thumbnails_and_scores(tmp_path, fixture_pdfs):
    folder = two_pdfs(tmp_path, fixture_pdfs)
    out = tmp_path / "hits.html"
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "colpali_pdf_search.py"), str(folder), "hexagon logo", "--dpi", "36", "--out", str(out), "--index", str(tmp_path), "--retriever", "region"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "indexed 3 pages of 2 PDFs" in proc.stdout
    assert "answered by: region" in proc.stdout
    page = out.read_text()
    assert page.count("<img src='data:image/png;base64,") == 3 and "score" in page


@pytest.mark.slow
def test_example_defaults_to_the_ocr_assisted_retriever_and_says_so(tmp_path, fixture_pdfs):
    folder = two_pdfs(tmp_path, fixture_pdfs)
    out = tmp_path / "hits.html"
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "colpali_pdf_search.py"), str(folder), "hexagon sticker", "-k", "2",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answered by: ocr-fused (OCR-assisted" in proc.stdout and "not ColPali" in proc.stdout
    assert out.read_text().count("<img src='data:image/png;base64,") == 2


@pytest.mark.slow
def test_baseline_table_on_the_pdf_fixture(fixture_pdfs):
    import shutil

    from local_backend.pages import RegionConSEEmbedder
    from vertex_mm.pages.eval import load_dataset
    from vertex_mm.pages.eval.harness import evaluate_methods, format_table

    results = evaluate_methods(load_dataset(fixture_pdfs, dpi=72), RegionConSEEmbedder(), ocr=shutil.which("tesseract") is not None)
    table = format_table(results)
    print(table)
    assert "ndcg@5" in table.splitlines()[0]
    assert any(name.startswith("late interaction") for name in results) and any("mean-pooled" in n for n in results)
    for metrics in results.values():
        assert 0.0 <= metrics["ndcg@5"] <= 1.0
    if shutil.which("tesseract"):
        # The fixture's queries are mostly about printed words: OCR + BM25 must find most of them.
        assert results["OCR (tesseract) + BM25"]["ndcg@5"] > 0.6
