"""Reading mixed page sources: text layers without OCR, scans and images through tesseract, and
an unreadable file that does not stop the rest."""

from __future__ import annotations

import pytest

from local_backend.pages.ocr import OcrPool
from local_backend.pages.reader import ReaderSettings, read_pages
from vertex_mm.pages import PageRef, expand_sources


@pytest.mark.usefixtures("tesseract")
def test_text_layer_pages_skip_ocr_scans_are_ocrd_and_a_bad_file_does_not_stop_the_rest(tmp_path, pdfs, page_pdf, page_png):
    digital = page_pdf(pdfs / "rq.pdf", 7, tmp_path / "engel.pdf")
    scan = page_png(pdfs / "lmtest-intro.pdf", 3, tmp_path / "mandible.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    refs = expand_sources([digital, broken, scan])
    with OcrPool(2, cache_dir=tmp_path / "ocr") as pool:
        pages = list(read_pages(refs, pool))
    assert [p.ref.page_id for p in pages] == ["engel#1", "broken", "mandible"]
    engel, bad, mandible = pages
    assert engel.text.source == "text-layer" and engel.ocr_pages == 0 and engel.error is None
    assert "Engel" in engel.text.text and engel.text.figure_boxes and engel.crops
    assert bad.error is not None and "broken.png" in str(bad.error) and bad.text.words == []
    assert mandible.ocr_pages == 1 and "mandible" in mandible.text.text.lower()
    assert mandible.thumbnail is not None and max(mandible.thumbnail.size) <= 1024


@pytest.mark.usefixtures("tesseract")
def test_without_images_the_words_are_the_same_and_nothing_is_rendered_for_the_cnn(tmp_path, pdfs, page_pdf):
    refs = expand_sources([page_pdf(pdfs / "rq.pdf", 7, tmp_path / "engel.pdf")])
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        [full] = list(read_pages(refs, pool))
        [bare] = list(read_pages(refs, pool, ReaderSettings(images=False)))
    assert full.thumbnail is not None and full.crops
    assert bare.thumbnail is None and bare.crops == []
    assert bare.text.words == full.text.words and bare.text.figure_boxes == full.text.figure_boxes


@pytest.mark.usefixtures("tesseract")
def test_a_page_marked_scan_is_ocrd_like_the_scanned_png_of_it(tmp_path, pdfs, page_png):
    # The data set's "scan" form renders the page in memory; it must read as the PNG a scanner
    # (or render_page) would have written: same pixels, so the same words (and OCR cache key).
    png = page_png(pdfs / "lmtest-intro.pdf", 3, tmp_path / "mandible.png")
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        [from_png] = read_pages([PageRef(png)], pool)
        [from_pdf] = read_pages([PageRef(pdfs / "lmtest-intro.pdf", 3, scan=True)], pool)
        assert (pool.misses, pool.hits) == (1, 1)  # the same pixels: the second read is a cache hit
    assert from_pdf.ref.page_id == "lmtest-intro#3" and from_pdf.text.source == "ocr" and from_pdf.ocr_pages == 1
    assert [w.text for w in from_pdf.text.words] == [w.text for w in from_png.text.words]


def test_a_page_past_the_end_is_an_error_of_that_page_only(tmp_path, pdfs):
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        [page] = read_pages([PageRef(pdfs / "coin.pdf", 999)], pool)
    assert page.error is not None and "page 999 does not exist" in str(page.error)
