"""The fused retriever end to end, the eval command, and the fixture target (slow: real models)."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from local_backend.pages_fused import OcrAssistedPageRetriever, expand_paths
from vertex_mm.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("tesseract")]

FIXTURE_PDFS = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "pagesearch" / "pdfs"


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    import pypdfium2 as pdfium

    root = tmp_path_factory.mktemp("corpus")
    pdfs = FIXTURE_PDFS
    for name, src, page in [("engel", "rq.pdf", 7), ("motorcycle", "rq.pdf", 15), ("tree", "party.pdf", 7)]:
        doc = pdfium.PdfDocument(str(pdfs / src))
        out = pdfium.PdfDocument.new()
        out.import_pages(doc, [page - 1])
        out.save(str(root / f"{name}.pdf"))
    doc = pdfium.PdfDocument(str(pdfs / "lmtest-intro.pdf"))
    doc[2].render(scale=200 / 72).to_pil().convert("L").save(root / "mandible-scan.png")
    return root
@pytest.fixture(scope="module")
def retriever(small_corpus):
    r = OcrAssistedPageRetriever(ocr_workers=2)
    r.index(expand_paths([small_corpus]))
    return r

def test_index_reads_text_layers_and_ocrs_only_the_scan(retriever):
    s = retriever.stats
    assert s.pages == 4 and s.text_layer_pages == 3 and s.ocr_pages == 1 and not s.errors
    assert retriever.page_ids == ["engel", "mandible-scan", "motorcycle", "tree"]

@pytest.mark.parametrize("query, page", [
    ("scatterplot of food expenditure against household income with quantile lines", "engel"),
    ("acceleration of a motorcycle crash over milliseconds", "motorcycle"),
    ("fetal mandible length against gestational age", "mandible-scan"),
    ("classification tree with bar charts of classes in the leaves", "tree"),
])
def test_search_finds_the_page_a_user_describes(retriever, query, page):
    hits = retriever.search(query, k=2)
    assert hits[0].page_id == page
    assert set(hits[0].components) == {"lexical", "dense", "visual", "layout"}
    assert hits[0].score >= hits[1].score

def test_a_component_subset_is_an_ablation(small_corpus):
    r = OcrAssistedPageRetriever(components=("lexical",), ocr_workers=1)
    r.index(expand_paths([small_corpus]))
    assert r.search("motorcycle acceleration", k=1)[0].page_id == "motorcycle"
    with pytest.raises(ValueError, match="components"):
        OcrAssistedPageRetriever(components=("colpali",))

@pytest.fixture
def tiny_ds(small_corpus, tmp_path):
    ds = tmp_path / "ds"
    (ds / "qrels").mkdir(parents=True)
    (ds / "corpus").symlink_to(small_corpus)
    queries = [("q1", "quantile regression lines on the Engel data", "chart", "engel"),
               ("q2", "mandible length residuals", "chart", "mandible-scan"),
               ("q3", "conditional inference tree", "figure", "tree")]
    (ds / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t, "kind": k}) + "\n" for q, t, k, _ in queries))
    (ds / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{p}\t1\n" for q, _, _, p in queries))
    return ds


def test_eval_command_prints_table_ablations_and_result_line(tiny_ds, capsys):
    assert main(["pages", "eval", str(tiny_ds), "--no-ocr-baseline", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("lexical alone", "dense alone", "visual alone", "layout alone", "without lexical", "text layer (else OCR) + BM25"):
        assert name in out
    assert "chart (2)" in out and "figure (1)" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT ndcg5=[\d.]+ r1=[\d.]+ r5=[\d.]+ mrr10=[\d.]+ index_pages_per_s=[\d.]+", last)

def test_eval_command_scores_a_multivector_embedder_by_late_interaction(tiny_ds, capsys):
    assert main(["pages", "eval", str(tiny_ds), "--model", "local"]) == 0
    out = capsys.readouterr().out
    assert "local (late interaction)" in out and out.strip().splitlines()[-1].startswith("RESULT ndcg5=")
    assert main(["pages", "eval", str(tiny_ds), "--model", "clip"]) == 2
    assert "unknown --model 'clip'" in capsys.readouterr().err


def test_eval_command_reports_a_bad_folder_as_an_error(tmp_path, capsys):
    assert main(["pages", "eval", str(tmp_path / "nowhere")]) == 2
    assert "no such data set folder" in capsys.readouterr().err

@pytest.mark.timeout(1800)  # OCRs ~190 pages (the OCR + BM25 baseline reads every page)
def test_fixture_target_on_held_out_test_queries(fixture_dir):
    """The issue's acceptance: nDCG@5 >= 0.85 on test queries never used for tuning, and the
    fused retriever beats every component alone and tesseract OCR + BM25 alone."""
    from local_backend.pages_fused.dataset import load_dataset
    from local_backend.pages_fused.evaluate import evaluate

    report = evaluate(load_dataset(fixture_dir, "test"), ocr_workers=2)
    by = {m.name.strip(): m.mean["ndcg5"] for m in report.methods}
    fused = report.fused.mean["ndcg5"]
    assert fused >= 0.85, by
    for name in ("lexical alone", "dense alone", "visual alone", "layout alone", "baseline: tesseract OCR + BM25"):
        assert fused > by[name], (name, by)


def test_saved_index_answers_like_the_live_one(retriever, tmp_path):
    from local_backend.pages_fused.store import is_fused_index, open_index, save_index

    save_index(retriever, tmp_path / "idx")
    assert is_fused_index(tmp_path / "idx") and not is_fused_index(tmp_path)
    reopened = open_index(tmp_path / "idx")
    q = "quantile regression lines for food expenditure"
    live, again = retriever.search(q, k=4), reopened.search(q, k=4)
    assert [h.page_id for h in again] == [h.page_id for h in live]
    assert [h.score for h in again] == pytest.approx([h.score for h in live], abs=1e-2)  # region vectors stored as float16
    assert reopened.sources["engel"][1] == 1


def test_search_command_says_which_retriever_answered(retriever, tmp_path, capsys):
    from local_backend.pages_fused.cli_hooks import ANSWERED_BY, search_command
    from local_backend.pages_fused.store import save_index

    save_index(retriever, tmp_path / "idx")
    assert search_command(tmp_path / "idx", ["motorcycle acceleration"], k=2) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ANSWERED_BY and "not ColPali" in out[0]
    assert out[2].startswith("  1. motorcycle  (motorcycle.pdf p.1)")


def test_pdf_search_example_entry_point_answers_offline_and_names_itself(small_corpus, capsys):
    from local_backend.pages_fused.cli_hooks import ANSWERED_BY, search_folder

    results = search_folder(small_corpus, ["acceleration of a motorcycle crash"], k=1, workers=1)
    assert results["acceleration of a motorcycle crash"][0].page_id == "motorcycle"
    assert ANSWERED_BY in capsys.readouterr().out
