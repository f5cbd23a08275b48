"""The whole OCR-free path on tiny random ColPali-family checkpoints, for each family.

``vertex-mm pages index`` (ingest, render, embed, pool, binarize, save) -> ``pages search`` in
each search mode -> ``pages eval``, and ``examples/colpali_pdf_search.py``. The checkpoints have
random weights, so rankings are meaningless: these tests prove that every stage runs on the
real transformers classes and that what one stage writes the next one reads.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from page_fixtures import PDF_FIXTURE, two_pdfs

from vertex_mm.cli import main

pytest.importorskip("transformers")
import tiny_colpali_checkpoints  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "colpali_pdf_search.py"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("colpali")
    return {f: tiny_colpali_checkpoints.build(f, root / f) for f in tiny_colpali_checkpoints.FAMILIES}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Two fixture PDFs (3 pages) with the fixture's own queries on them, in BEIR layout."""
    root = tmp_path_factory.mktemp("dataset")
    two_pdfs(root / "corpus")
    docs = {p.stem for p in (root / "corpus").iterdir()}
    qrels = [line.split("\t") for line in (PDF_FIXTURE / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    kept = [row for row in qrels if row[1].split("#")[0] in docs]
    assert kept, "the fixture qrels should judge pages of the two PDFs"
    ids = {row[0] for row in kept}
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join("\t".join(r) for r in kept) + "\n")
    queries = [q for q in (PDF_FIXTURE / "queries.jsonl").read_text().splitlines() if json.loads(q)["_id"] in ids]
    (root / "queries.jsonl").write_text("\n".join(queries) + "\n")
    return root


@pytest.mark.parametrize("family", tiny_colpali_checkpoints.FAMILIES)
def test_cli_indexes_searches_and_evaluates_with_a_colpali_family_checkpoint(
    family: str, checkpoints: dict[str, pathlib.Path], small_dataset: pathlib.Path, tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = f"{family}:{checkpoints[family]}"
    idx = tmp_path / "idx"
    corpus = small_dataset / "corpus"
    assert main(["pages", "index", str(corpus), "--index", str(idx), "--embedder", spec, "--dpi", "36",
                 "--pool-factor", "2", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert f"indexed 3 pages with {spec}" in out and "OCR" not in out  # no reading happened: it is OCR-free

    manifest = json.loads((idx / "manifest.json").read_text())
    assert manifest["kind"] == "multivector" and manifest["space"].startswith(f"colpali/{family}-")
    assert manifest["config"]["pool_factor"] == 2 and manifest["config"]["binary"] is True
    assert manifest["config"]["embedder"] == spec and manifest["count"] == 3

    hits_by_mode = {}
    for mode in ("float", "binary"):
        assert main(["pages", "search", "--index", str(idx), "hexagon logo", "bar chart", "-k", "3", "--json",
                     "--mode", mode]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
        assert [x["query"] for x in lines] == ["hexagon logo", "bar chart"]
        for line in lines:
            assert line["retriever"] == spec and len(line["hits"]) == 3
            scores = [h["score"] for h in line["hits"]]
            assert scores == sorted(scores, reverse=True) and len({h["page_id"] for h in line["hits"]}) == 3
        hits_by_mode[mode] = lines
    # Binary screening keeps every page here (3 pages < candidates) and reranks by float MaxSim.
    assert hits_by_mode["binary"] == hits_by_mode["float"]

    assert main(["pages", "eval", str(small_dataset), "--embedder", spec, "--dpi", "36", "--no-ocr-baseline"]) == 0
    report = capsys.readouterr().out
    assert f"{spec} (late interaction)" in report
    assert "binary + rerank" in report and "single vector, mean-pooled" in report
    assert report.strip().splitlines()[-1].startswith("RESULT ndcg5=")


def test_a_search_with_another_familys_checkpoint_is_refused(
    checkpoints: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    idx = tmp_path / "idx"
    pdf = PDF_FIXTURE / "corpus" / "effects-hex.pdf"
    assert main(["pages", "index", str(pdf), "--index", str(idx), "--embedder", f"colqwen2:{checkpoints['colqwen2']}",
                 "--dpi", "36"]) == 0
    capsys.readouterr()
    assert main(["pages", "search", "--index", str(idx), "logo", "--embedder", f"colpali:{checkpoints['colpali']}"]) == 2
    err = capsys.readouterr().err
    assert "colqwen2" in err and "colpali" in err


def test_the_example_runs_the_ocr_free_path_on_a_checkpoint_and_keeps_its_index(
    checkpoints: dict[str, pathlib.Path], tmp_path: pathlib.Path,
) -> None:
    folder = two_pdfs(tmp_path / "pdfs")
    out = tmp_path / "hits.html"
    ckpt = tmp_path / "colqwen2"
    shutil.copytree(checkpoints["colqwen2"], ckpt)
    args = [sys.executable, str(EXAMPLE), str(folder), "hexagon logo", "--retriever", f"colqwen2:{ckpt}", "--dpi", "36",
            "-k", "2", "--out", str(out), "--index", str(tmp_path / "kept")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "indexed 3 pages of 2 documents" in proc.stdout and "OCR" not in proc.stdout
    assert f"answered by: colqwen2:{ckpt} (late interaction" in proc.stdout
    assert out.read_text().count("<img src='data:image/png;base64,") == 2
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "searching the index in" in again.stdout, again.stderr[-2000:]
