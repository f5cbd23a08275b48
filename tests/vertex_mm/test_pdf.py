"""The one PDF opener: typed errors for unreadable files, and a render clamp on the rounded
bitmap size with a per-side cap (issue 11, M6)."""

from __future__ import annotations

import math

import pytest
from factories import pdf_bytes
from page_fixtures import PDF_FIXTURE

from vertex_mm.errors import InvalidDocumentError
from vertex_mm.pdf import MAX_PAGE_PIXELS, fit_scale, open_pdf, pdf_page_count


def test_pages_are_counted_from_bytes_and_paths(tmp_path):
    (tmp_path / "a.pdf").write_bytes(pdf_bytes(3))
    assert pdf_page_count(tmp_path / "a.pdf") == 3 == pdf_page_count(pdf_bytes(3))


@pytest.mark.parametrize("source", [b"", b"%PDF-1.7 nope", b"not a pdf at all"])
def test_unreadable_pdfs_are_invalid_document_errors(source):
    with pytest.raises(InvalidDocumentError):
        pdf_page_count(source, name="bad.pdf")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InvalidDocumentError, match="no such PDF file"):
        open_pdf(tmp_path / "missing.pdf")


@pytest.mark.parametrize("size, dpi", [((14400, 14400), 200), ((14400, 2), 300), ((3, 14400), 600), ((612, 792), 144)])
def test_the_clamp_holds_on_rounded_sizes_and_per_side(size, dpi):
    w, h = size
    s = fit_scale(w, h, dpi / 72)
    assert math.ceil(w * s) * math.ceil(h * s) <= MAX_PAGE_PIXELS
    assert max(math.ceil(w * s), math.ceil(h * s)) <= 16_384
    if (w, h) == (612, 792):
        assert s == dpi / 72  # a normal page renders at the resolution asked for


def test_a_huge_page_renders_within_the_bound():
    with open_pdf(pdf_bytes(1, size=(14400, 14400))) as pdf:
        image = pdf.render(0, dpi=200, max_pixels=2_000_000)
    assert image.width * image.height <= 2_000_000 and image.width == image.height


def test_extracted_pages_are_the_same_bytes_a_second_later():
    # pdfium stamps the save time as /CreationDate: two extracts a second apart differed, so a
    # page sent before missed the content cache (and a test comparing vectors was flaky).
    import time

    source = PDF_FIXTURE / "corpus" / "zoo-design.pdf"
    with open_pdf(source) as pdf:
        first = pdf.extract([1])
    time.sleep(1.05)
    with open_pdf(source) as pdf:
        assert pdf.extract([1]) == first
