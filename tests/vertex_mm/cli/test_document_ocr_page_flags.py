"""``pages index --document-ocr`` for a retriever that is not gemini is refused, not ignored,
as every other flag of another retriever is (cli/pages.py _INDEX_FLAGS)."""

from __future__ import annotations

import pytest
from page_fixtures import PDF_FIXTURE

from vertex_mm.cli import main

pytest.importorskip("local_backend.pages")


def test_document_ocr_for_an_ocr_fused_page_index_is_refused(tmp_path, capsys):
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus" / "effects-hex.pdf"), "--index", str(idx),
                 "--document-ocr"]) == 2
    assert "--document-ocr applies to gemini page indexes only" in capsys.readouterr().err and not idx.exists()


def test_gemini_flags_for_another_embedder_are_refused_by_pages_eval(tmp_path, capsys):
    assert main(["pages", "eval", str(tmp_path), "--document-ocr", "--project", "p"]) == 2
    assert "--project, --document-ocr apply to --embedder gemini only" in capsys.readouterr().err
