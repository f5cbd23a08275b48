"""Words and picture regions from a PDF page's own content, read with pypdfium2.

A born-digital page already says what it shows: its text layer has every word with a box, and
its drawing operators say where the charts and images are. Reading that is exact and about a
hundred times cheaper than OCR, so the retriever OCRs only what this module cannot read:
pages without a text layer and the raster images on a page.
"""

from __future__ import annotations

from typing import Any

from vertex_mm.pdf import text_page

from .words import Box, PageText, Word

__all__ = ["MIN_TEXT_CHARS", "read_pdf_page", "has_text_layer", "raster_image_boxes"]

# A page whose text layer holds fewer letters than this is treated as a scan: scanners often
# leave a page number or a stamp as text over the image.
MIN_TEXT_CHARS = 40

# Figure detection: vector paths thinner than this (points) are rules and axes, not content.
_MIN_PATH_EXTENT_PT = 1.5
# Paths closer than this (points) belong to the same drawing.
_MERGE_GAP_PT = 8.0
# A drawing smaller than this share of the page is a glyph, a bullet or a logo.
_MIN_FIGURE_AREA = 0.015
_MIN_FIGURE_SIDE_PT = 40.0
# Shaded code listings and framed text are boxes full of words; a chart is mostly ink and air.
_MAX_FIGURE_TEXT_COVER = 0.35
# Axis labels and tick numbers sit just outside the drawn paths: widen the box to hold them.
_LABEL_MARGIN_X = 0.03
_LABEL_MARGIN_Y = 0.035


def has_text_layer(page: Any, name: str, page_number: int | None = None) -> bool:
    """True when the pypdfium2 page carries at least :data:`MIN_TEXT_CHARS` letters or digits
    (``name`` and ``page_number`` name the file and page in the error for a text layer that
    cannot be read)."""
    with text_page(page, name, page_number) as textpage:
        if textpage.count_chars() < MIN_TEXT_CHARS:
            return False
        return sum(ch.isalnum() for ch in textpage.get_text_range()) >= MIN_TEXT_CHARS


def read_pdf_page(page: Any, page_id: str, *, name: str | None = None, page_number: int | None = None) -> PageText:
    """The text-layer words of a pypdfium2 page, in content order, and its figure regions."""
    width, height = page.get_size()
    with text_page(page, name or page_id, page_number) as textpage:
        words = _words(textpage, width, height)
    figures = _figure_boxes(page, width, height, words)
    return PageText(page_id=page_id, words=words, figure_boxes=figures, source="text-layer")


def raster_image_boxes(page: Any, *, min_area: float = _MIN_FIGURE_AREA) -> list[Box]:
    """Boxes (page fractions) of the raster images drawn on the page, largest first."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    boxes = [
        _to_box(obj.get_bounds(), width, height)
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3)
    ]
    return sorted((b for b in boxes if b.area >= min_area), key=lambda b: -b.area)


def _to_box(bounds: tuple[float, float, float, float], width: float, height: float) -> Box:
    left, bottom, right, top = bounds
    x0, x1 = sorted((left / width, right / width))
    y0, y1 = sorted((1.0 - top / height, 1.0 - bottom / height))
    return Box(max(0.0, x0), max(0.0, y0), min(1.0, x1), min(1.0, y1))


def _words(textpage: Any, width: float, height: float) -> list[Word]:
    text = textpage.get_text_range()
    n = min(len(text), textpage.count_chars())
    words: list[Word] = []
    chars: list[str] = []
    box: list[float] | None = None

    def flush() -> None:
        nonlocal box
        if chars and box is not None:
            words.append(Word("".join(chars), _to_box(tuple(box), width, height), "text-layer"))  # type: ignore[arg-type]
        chars.clear()
        box = None

    for i in range(n):
        ch = text[i]
        if ch.isspace() or ch == "\x00":
            flush()
            continue
        left, bottom, right, top = textpage.get_charbox(i)
        if box is None:
            box = [left, bottom, right, top]
        else:
            box = [min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top)]
        chars.append(ch)
    flush()
    return words


def _figure_boxes(page: Any, width: float, height: float, words: list[Word]) -> list[Box]:
    """Clusters of drawn content (vector paths, images, embedded forms) big enough to be figures."""
    import pypdfium2.raw as pdfium_c

    kinds = (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_FORM)
    gap_x, gap_y = _MERGE_GAP_PT / width, _MERGE_GAP_PT / height
    seeds: list[Box] = []
    for obj in page.get_objects(filter=kinds, max_depth=1):
        left, bottom, right, top = obj.get_bounds()
        if obj.type == pdfium_c.FPDF_PAGEOBJ_PATH and min(right - left, top - bottom) < _MIN_PATH_EXTENT_PT:
            continue
        seeds.append(_to_box((left, bottom, right, top), width, height))
    clusters = _merge(seeds, gap_x, gap_y)
    figures = []
    for box in clusters:
        too_small = (box.x1 - box.x0) * width < _MIN_FIGURE_SIDE_PT or (box.y1 - box.y0) * height < _MIN_FIGURE_SIDE_PT
        if box.area < _MIN_FIGURE_AREA or too_small:
            continue
        covered = sum(w.box.area for w in words if box.contains_center_of(w.box))
        if covered / box.area > _MAX_FIGURE_TEXT_COVER:
            continue
        figures.append(Box(max(0.0, box.x0 - _LABEL_MARGIN_X), max(0.0, box.y0 - _LABEL_MARGIN_Y),
                           min(1.0, box.x1 + _LABEL_MARGIN_X), min(1.0, box.y1 + _LABEL_MARGIN_Y)))
    return figures


def _merge(boxes: list[Box], gap_x: float, gap_y: float) -> list[Box]:
    """Union boxes that touch after growing by the gap, until nothing changes."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            grown = Box(box.x0 - gap_x, box.y0 - gap_y, box.x1 + gap_x, box.y1 + gap_y)
            for i, other in enumerate(out):
                if grown.overlaps(other):
                    out[i] = other.union(box)
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged
