"""``vertex-mm pages eval --split``: a test-split run says so (it is the default), a dev run does not.

Scored through the emulator with ``--embedder gemini`` (the one retriever that reads no page
with tesseract), on two one-page PDFs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from page_fixtures import PDF_FIXTURE, one_page_pdf

from vertex_mm.cli import main
from vertex_mm.cli.pages_eval import TEST_NOTICE


@pytest.fixture
def two_splits(tmp_path: Path) -> Path:
    """Two one-page PDFs, one query, judged the same in ``qrels/dev.tsv`` and ``qrels/test.tsv``."""
    ds = tmp_path / "ds"
    (ds / "corpus").mkdir(parents=True)
    src = PDF_FIXTURE / "corpus" / "zoo-quickref.pdf"
    one_page_pdf(src, 1, ds / "corpus" / "a.pdf")
    one_page_pdf(src, 2, ds / "corpus" / "b.pdf")
    (ds / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "zoo quick reference"}) + "\n", encoding="utf-8")
    (ds / "qrels").mkdir()
    for split in ("dev", "test"):
        (ds / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta#1\t1\n", encoding="utf-8")
    return ds


@pytest.mark.parametrize(("split", "noticed"), [([], True), (["--split", "test"], True), (["--split", "dev"], False)])
def test_a_test_split_run_prints_a_notice(emulator: Any, two_splits: Path, capsys: pytest.CaptureFixture[str],
                                           split: list[str], noticed: bool) -> None:
    assert main(["pages", "eval", str(two_splits), *split, "--embedder", "gemini", "--no-ocr-baseline",
                 "--api-endpoint", emulator.url]) == 0
    captured = capsys.readouterr()
    assert (TEST_NOTICE in captured.err) is noticed
    assert captured.out.strip().splitlines()[-1].startswith("RESULT ndcg5=")  # the notice is not on stdout
