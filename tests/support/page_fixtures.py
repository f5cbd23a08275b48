"""Fixtures and builders shared by the page-search tests (vertex_mm.pages, the OCR-assisted
retriever in local_backend.pages, the region and ColPali embedders, ``vertex-mm pages``).

Conftests import the fixtures they need from here; tests import the builders. Everything is
built from the committed fixture PDFs (real R package vignettes, see their SOURCES/README).
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Callable

import numpy as np
import pytest

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
#: tests/fixtures/pdfs: four PDFs in the BEIR layout (corpus/, queries.jsonl, qrels/).
PDF_FIXTURE = FIXTURES / "pdfs"
#: tests/fixtures/pagesearch: 96 pages of 7 PDFs listed in manifest.jsonl, 66 queries.
PAGESEARCH = FIXTURES / "pagesearch"
PAGESEARCH_PDFS = PAGESEARCH / "pdfs"


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


def small_corpus(root: pathlib.Path) -> pathlib.Path:
    """Three one-page PDFs (a scatter plot, a crash-test curve, a classification tree) and one
    scanned page (mandible lengths), whose page ids are engel#1, motorcycle#1, tree#1 and
    mandible-scan."""
    for name, src, page in [("engel", "rq.pdf", 7), ("motorcycle", "rq.pdf", 15), ("tree", "party.pdf", 7)]:
        one_page_pdf(PAGESEARCH_PDFS / src, page, root / f"{name}.pdf")
    render_page(PAGESEARCH_PDFS / "lmtest-intro.pdf", 3, root / "mandible-scan.png")
    return root


def two_pdfs(folder: pathlib.Path) -> pathlib.Path:
    """A folder holding two of the PDF fixture's real PDFs (3 pages in all)."""
    folder.mkdir()
    for name in ("zoo-design.pdf", "effects-hex.pdf"):
        shutil.copy(PDF_FIXTURE / "corpus" / name, folder / name)
    return folder


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- fixtures (conftests import the ones they use) -------------------------------------------


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def ragged_pages(rng: np.random.Generator) -> list[np.ndarray]:
    """40 pages of 5..60 unit vectors, 32-d (ColQwen2-like: lengths differ per page)."""
    return [unit_rows(rng, int(n), 32) for n in rng.integers(5, 61, size=40)]


@pytest.fixture
def queries(rng: np.random.Generator) -> list[np.ndarray]:
    return [unit_rows(rng, int(n), 32) for n in (3, 7, 12)]


@pytest.fixture
def fixture_pdfs() -> pathlib.Path:
    return PDF_FIXTURE


@pytest.fixture(scope="session")
def pdfs() -> pathlib.Path:
    """The page-search fixture's committed PDFs."""
    return PAGESEARCH_PDFS


@pytest.fixture(scope="session")
def fixture_dir() -> pathlib.Path:
    return PAGESEARCH


@pytest.fixture
def page_pdf() -> Callable[..., pathlib.Path]:
    return one_page_pdf


@pytest.fixture
def page_png() -> Callable[..., pathlib.Path]:
    return render_page


@pytest.fixture
def tesseract() -> None:
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed (bash .ci/install_ocr.sh)")


@pytest.fixture(autouse=False)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """OCR results go to a per-session folder, never the user's cache."""
    monkeypatch.setenv("VERTEX_MM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vertex-mm-cache"))
