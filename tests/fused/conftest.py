"""Fixtures for the OCR-assisted page retriever: real pages from the committed fixture PDFs."""

from __future__ import annotations

import pathlib
import shutil

import pytest

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "pagesearch"
PDFS = FIXTURE / "pdfs"

@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # OCR results and materialised corpora go to a per-session folder, never the user's cache.
    monkeypatch.setenv("VERTEX_MM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vertex-mm-cache"))


@pytest.fixture(scope="session")
def pdfs() -> pathlib.Path:
    """The fixture's committed PDFs."""
    return PDFS


@pytest.fixture(scope="session")
def fixture_dir() -> pathlib.Path:
    return FIXTURE


@pytest.fixture
def page_pdf():
    return one_page_pdf


@pytest.fixture
def page_png():
    return render_page


@pytest.fixture
def tesseract() -> None:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed (bash .ci/install_ocr.sh)")


def one_page_pdf(src: pathlib.Path, page: int, dest: pathlib.Path) -> pathlib.Path:
    """Copy page ``page`` (1-based) of ``src`` into a new one-page PDF at ``dest``."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(src))
    out = pdfium.PdfDocument.new()
    out.import_pages(doc, [page - 1])
    out.save(str(dest))
    out.close()
    doc.close()
    return dest


def render_page(src: pathlib.Path, page: int, dest: pathlib.Path, dpi: int = 200) -> pathlib.Path:
    """Render page ``page`` of ``src`` to a grayscale PNG: a scan without a text layer."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(src))
    doc[page - 1].render(scale=dpi / 72).to_pil().convert("L").save(dest)
    doc.close()
    return dest
