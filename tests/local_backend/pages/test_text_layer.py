"""Words and figure regions from real PDF pages (the fixture's R vignettes)."""

from __future__ import annotations

import pypdfium2 as pdfium
from page_fixtures import PAGESEARCH_PDFS

from local_backend.pages.text_layer import has_text_layer, raster_image_boxes, read_pdf_page

PDFS = PAGESEARCH_PDFS


def _page(name: str, number: int):
    return pdfium.PdfDocument(str(PDFS / name))[number - 1]


def test_text_layer_words_carry_boxes_inside_the_page():
    text = read_pdf_page(_page("rq.pdf", 8), "rq#8")
    assert "Engel" in {w.text.strip(".,'s") for w in text.words} or "Engel's" in text.text
    assert all(0 <= w.box.x0 <= w.box.x1 <= 1 and 0 <= w.box.y0 <= w.box.y1 <= 1 for w in text.words)
    assert {w.source for w in text.words} == {"text-layer"}


def test_chart_page_has_a_figure_region_and_reference_page_has_none():
    chart = read_pdf_page(_page("strucchange-intro.pdf", 3), "strucchange-intro#3")  # income/expenditure line chart
    refs = read_pdf_page(_page("strucchange-intro.pdf", 15), "strucchange-intro#15")  # references only
    assert len(chart.figure_boxes) == 1
    box = chart.figure_boxes[0]
    assert box.y1 < 0.5 and box.area > 0.02  # the chart sits in the upper half of the page
    assert refs.figure_boxes == []


def test_axis_labels_fall_inside_the_figure_region():
    chart = read_pdf_page(_page("strucchange-intro.pdf", 3), "strucchange-intro#3")
    inside = {w.text for w in chart.words if chart.figure_boxes[0].contains_center_of(w.box)}
    assert {"income", "expenditures", "Time"} <= inside


def test_born_digital_page_has_text_layer_and_vector_page_has_no_raster_images():
    page = _page("party.pdf", 7)
    assert has_text_layer(page, "page.pdf")
    assert raster_image_boxes(page) == []


def test_image_only_pdf_has_no_text_layer(tmp_path):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (800, 1000), "white")
    ImageDraw.Draw(img).text((50, 50), "scanned words", fill="black")
    img.save(tmp_path / "scan.pdf")
    doc = pdfium.PdfDocument(str(tmp_path / "scan.pdf"))
    assert not has_text_layer(doc[0], "blank.pdf", 1)
    assert len(raster_image_boxes(doc[0])) == 1
