"""``vertex-mm pages index|search|eval`` end to end, offline."""

from __future__ import annotations

import json
import re

import pytest
from page_fixtures import PDF_FIXTURE, private_cache, small_corpus, tesseract

from vertex_mm.cli import main

pytest.importorskip("local_backend.pages")
__all__ = ["private_cache", "tesseract"]  # fixtures


@pytest.mark.slow
def test_late_interaction_index_grows_and_search_uses_the_embedder_that_built_it(tmp_path, capsys):
    idx = tmp_path / "idx"
    corpus = PDF_FIXTURE / "corpus"
    index = ["pages", "index", "--index", str(idx), "--dpi", "36"]
    assert main([*index, str(corpus / "zoo-design.pdf"), "--embedder", "local"]) == 0
    assert "indexed zoo-design: 2 pages" in capsys.readouterr().out
    assert main([*index, str(corpus / "effects-hex.pdf"), "--embedder", "regions"]) == 2  # exists: never silently
    assert "already holds a late-interaction page index built by regions; pass --update" in capsys.readouterr().err
    assert main([*index, str(corpus / "effects-hex.pdf"), "--embedder", "regions", "--update", "--pool-factor", "2"]) == 2
    assert "--pool-factor 2: " in capsys.readouterr().err  # the index keeps how it was built
    assert main([*index, str(corpus / "zoo-design.pdf"), str(corpus / "effects-hex.pdf"), "--embedder", "regions",
                 "--update"]) == 0
    out = capsys.readouterr().out
    assert "indexed effects-hex: 1 pages" in out and "(3 pages in the index, 2 already there" in out
    assert "indexed zoo-design" not in out
    assert main(["pages", "search", "--index", str(idx), "hexagon logo", "-k", "3", "--json", "--mode", "binary"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert line["query"] == "hexagon logo" and line["retriever"] == "regions"
    assert sorted((h["doc_id"], h["page"]) for h in line["hits"]) == [("effects-hex", 1), ("zoo-design", 1), ("zoo-design", 2)]
    assert {h["page_id"] for h in line["hits"]} == {"effects-hex#1", "zoo-design#1", "zoo-design#2"}


def test_a_missing_index_is_an_error_naming_it(tmp_path, capsys):
    assert main(["pages", "search", "--index", str(tmp_path / "nope"), "anything"]) == 2
    assert "nope: no page index here" in capsys.readouterr().err


def test_an_unknown_retriever_is_an_error(tmp_path, capsys):
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus"), "--index", str(tmp_path / "i"), "--embedder", "clip"]) == 2
    assert "'clip' is a 'embedding' model; page search needs a model of kind 'pages'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return small_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_ocr_fused_index_and_search_say_which_retriever_answered(corpus, tmp_path, capsys):
    from local_backend.pages import DESCRIPTION

    assert main(["pages", "index", str(corpus), "--index", str(tmp_path / "idx"), "--workers", "1"]) == 0
    assert "indexed 4 pages with ocr-fused" in capsys.readouterr().out
    assert main(["pages", "search", "--index", str(tmp_path / "idx"), "motorcycle acceleration", "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"answered by: ocr-fused ({DESCRIPTION})" and "not ColPali" in out[0]
    assert out[2].startswith("  1. motorcycle#1  (motorcycle.pdf p.1)")


@pytest.fixture
def tiny_ds(corpus, tmp_path):
    ds = tmp_path / "ds"
    (ds / "qrels").mkdir(parents=True)
    (ds / "corpus").symlink_to(corpus)
    queries = [("q1", "quantile regression lines on the Engel data", "chart", "engel#1"),
               ("q2", "mandible length residuals", "chart", "mandible-scan"),
               ("q3", "conditional inference tree", "figure", "tree#1")]
    (ds / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t, "kind": k}) + "\n" for q, t, k, _ in queries))
    (ds / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{p}\t1\n" for q, _, _, p in queries))
    return ds


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_eval_prints_table_ablations_and_result_line(tiny_ds, capsys):
    assert main(["pages", "eval", str(tiny_ds), "--no-ocr-baseline", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    rows = ("lexical alone", "dense alone", "layout alone", "without lexical", "text layer (else OCR) + BM25",
            "+ passage BM25 (weight 0.5)", "text-signal recipe 1", "+ headings x2 in BM25", "+ heading BM25 (weight 0.25)")
    for name in rows:
        assert name in out
    assert "visual alone" not in out  # the CNN region signal is opt-in (it did not pay on held-out documents)
    assert "tesseract OCR + BM25" not in out
    assert "chart (2)" in out and "figure (1)" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT ndcg5=[\d.]+ recall1=[\d.]+ recall5=[\d.]+ mrr10=[\d.]+ index_pages_per_s=[\d.]+", last)


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_eval_scores_a_multivector_embedder_by_late_interaction(tiny_ds, capsys):
    assert main(["pages", "eval", str(tiny_ds), "--model", "local", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    rows = ("regions (late interaction)", "  binary + rerank", "  single vector, mean-pooled", "baseline: tesseract OCR + BM25")
    for name in rows:
        assert name in out
    assert out.strip().splitlines()[-1].startswith("RESULT ndcg5=")
    assert main(["pages", "eval", str(tiny_ds), "--embedder", "clip"]) == 2
    assert "'clip' is a 'embedding' model" in capsys.readouterr().err


def test_eval_reports_a_bad_folder_as_an_error(tmp_path, capsys):
    assert main(["pages", "eval", str(tmp_path / "nowhere")]) == 2
    assert "no such data set folder" in capsys.readouterr().err
