"""The evaluation table for a late-interaction retriever on the PDF fixture (real offline model)."""

from __future__ import annotations

import io
import shutil

import pytest

from vertex_mm.pages.eval import evaluate, format_report, load_dataset

pytest.importorskip("local_backend.pages")


@pytest.mark.slow
def test_late_interaction_table_with_its_variants_and_the_ocr_baseline(fixture_pdfs):
    from vertex_mm.registry import get_page_retriever

    baselines = [get_page_retriever("ocr-bm25")] if shutil.which("tesseract") else []
    report = evaluate(load_dataset(fixture_pdfs), get_page_retriever("regions", dpi=72, dtype="float32"), baselines=baselines)
    out = io.StringIO()
    format_report(report, out)
    table = out.getvalue()
    print(table)
    assert "nDCG@5" in table.splitlines()[1] and table.strip().splitlines()[-1].startswith("RESULT ndcg5=")
    names = [m.name for m in report.methods]
    assert names[:3] == ["regions (late interaction)", "  binary + rerank", "  single vector, mean-pooled"]
    for m in report.methods:
        assert 0.0 <= m.mean["ndcg5"] <= 1.0
    if baselines:
        # The fixture's queries are mostly about printed words: OCR + BM25 must find most of them.
        assert report.methods[-1].name == "baseline: tesseract OCR + BM25" and report.methods[-1].mean["ndcg5"] > 0.6
