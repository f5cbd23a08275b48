"""``examples/colpali_pdf_search.py``: offline, says which retriever answered, writes the page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from page_fixtures import two_pdfs

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "colpali_pdf_search.py"


@pytest.mark.slow
def test_example_writes_html_with_thumbnails_and_scores(tmp_path):
    folder = two_pdfs(tmp_path / "pdfs")
    out = tmp_path / "hits.html"
    args = [sys.executable, str(EXAMPLE), str(folder), "hexagon logo", "--dpi", "36", "--out", str(out), "--index", str(tmp_path),
            "--retriever", "regions"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "indexed 3 pages of 2 documents" in proc.stdout
    assert "answered by: regions (late interaction" in proc.stdout
    page = out.read_text()
    assert page.count("<img src='data:image/png;base64,") == 3 and "score" in page
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)  # the kept index answers again
    assert again.returncode == 0 and "searching the index in" in again.stdout, again.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_example_defaults_to_the_ocr_assisted_retriever_and_says_so(tmp_path):
    folder = two_pdfs(tmp_path / "pdfs")
    out = tmp_path / "hits.html"
    proc = subprocess.run([sys.executable, str(EXAMPLE), str(folder), "hexagon sticker", "-k", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answered by: ocr-fused (OCR-assisted" in proc.stdout and "not ColPali" in proc.stdout
    assert out.read_text().count("<img src='data:image/png;base64,") == 2
