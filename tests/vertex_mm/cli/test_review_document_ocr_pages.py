"""Review: ``pages index --document-ocr`` for a retriever that is not gemini is refused, not ignored,
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
