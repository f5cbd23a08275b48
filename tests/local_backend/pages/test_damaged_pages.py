"""The OCR-assisted reader on damaged and oversized PDFs: the page that cannot be read is that
page's error, the others are read, and no page renders beyond :data:`vertex_mm.pdf.MAX_PAGE_PIXELS`.

Pinned from a fuzz run (thousands of mutations of real files): the reader rendered pages for OCR
without the render bound, so a PDF whose MediaBox declares a huge page (a damaged one, or a
200-inch poster at the OCR resolution) asked pdfium for gigabytes and failed with
``MemoryError`` (or the OS killed the process); and a page pdfium could not load escaped as
``PdfiumError`` and stopped the read.
"""

from __future__ import annotations

import damaged
import pytest
from factories import pdf_bytes

from local_backend.pages.ocr import OcrPool
from local_backend.pages.reader import _render, read_pages
from vertex_mm.errors import InvalidDocumentError
from vertex_mm.pages import PageRef, expand_sources
from vertex_mm.pdf import MAX_PAGE_PIXELS, MAX_PAGE_SIDE, open_pdf


@pytest.mark.parametrize("size", [(14400, 14400), (1, 14400), (4.0e9, 4.0e9)], ids=["poster", "ribbon", "miles"])
def test_a_huge_page_renders_for_ocr_within_the_bound(size):
    with open_pdf(pdf_bytes(1, size=size), name="poster.pdf") as pdf:
        page = pdf.page(0)
        try:
            image = _render(page, 300 / 72)  # the reader's region OCR resolution
        finally:
            page.close()
    assert image.width * image.height <= MAX_PAGE_PIXELS and max(image.size) <= MAX_PAGE_SIDE


@pytest.mark.usefixtures("tesseract")
def test_a_page_pdfium_cannot_load_is_that_pages_error_and_the_rest_are_read(tmp_path):
    lying = tmp_path / "lying.pdf"
    lying.write_bytes(damaged.pdf_with_lying_page_count(pdf_bytes(2)))  # lists 3 pages, holds 2
    refs = expand_sources([lying])
    assert [r.page_id for r in refs] == ["lying#1", "lying#2", "lying#3"]
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        pages = list(read_pages(refs + [PageRef(lying, 1, doc_id="again")], pool))
    assert [p.error is None for p in pages] == [True, True, False, True]
    assert isinstance(pages[2].error, InvalidDocumentError) and "page 3 of 3 cannot be loaded" in str(pages[2].error)
