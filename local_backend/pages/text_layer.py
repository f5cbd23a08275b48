"""Words and picture regions from a PDF page's own content, read with pypdfium2.

A born-digital page already says what it shows: its text layer has every word with a box, and
its drawing operators say where the charts and images are. Reading that is exact and about a
hundred times cheaper than OCR, so the retriever OCRs only what this module cannot read:
pages without a text layer and the raster images on a page.

Boxes are fractions of the page *as displayed*: pdfium reports character and object bounds in
the unrotated user space of the page, and renders (crops included) after the page's
``/Rotate``, so every box goes through :class:`PageFrame`, which applies the same turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vertex_mm.pdf import text_page

from .words import Box, PageText, Word

__all__ = ["MIN_TEXT_CHARS", "LetterTurns", "PageFrame", "Picture", "has_text_layer", "raster_image_boxes",
           "raster_images", "read_pdf_page", "read_text_layer"]

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


class PageFrame:
    """Maps PDF user-space rectangles of a pypdfium2 page to display fractions (origin top left)
    as pdfium renders the page: relative to its bounding box (the MediaBox cut by the CropBox,
    whose origin need not be 0, 0), turned clockwise by its ``/Rotate``."""

    def __init__(self, page: Any) -> None:
        self.left, self.bottom, self.right, self.top = (float(v) for v in page.get_bbox())
        self.rotation = int(page.get_rotation()) % 360
        self.width, self.height = (float(v) for v in page.get_size())  # as displayed: sides swapped at 90 and 270

    def box(self, bounds: tuple[float, float, float, float]) -> Box:
        """A user-space (left, bottom, right, top) rectangle as a display box, clamped to the page."""
        left, bottom, right, top = bounds
        x0, y0 = self._point(left, bottom)
        x1, y1 = self._point(right, top)
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        return Box(max(0.0, x0), max(0.0, y0), min(1.0, x1), min(1.0, y1))

    def _point(self, x: float, y: float) -> tuple[float, float]:
        # u: across the unrotated page from its left edge; v: down from its top edge
        u = (x - self.left) / max(self.right - self.left, 1e-9)
        v = (self.top - y) / max(self.top - self.bottom, 1e-9)
        if self.rotation == 90:  # the top edge turns to the right side, the left edge to the top
            return 1.0 - v, u
        if self.rotation == 180:
            return 1.0 - u, 1.0 - v
        if self.rotation == 270:  # the top edge turns to the left side, the left edge to the bottom
            return v, 1.0 - u
        return u, v


@dataclass(frozen=True)
class Picture:
    """A raster image drawn on a page: its ``box`` (display fractions) and ``turn``, how far
    (degrees clockwise: 0, 90, 180 or 270) its pixel rows are turned as the page is displayed,
    by the matrix it is drawn with and the page's ``/Rotate``."""

    box: Box
    turn: int = 0


@dataclass(frozen=True)
class LetterTurns:
    """How the words of a page's text layer are turned as the page is displayed: for each word
    with a letter or digit, its box, its turn (degrees clockwise) and how many letters it has."""

    words: tuple[tuple[Box, int, int], ...] = ()

    def turn_of(self, picture: Picture) -> int:
        """How far to turn a crop of ``picture`` back for OCR: the way most letters inside it or
        next to it (its labels, caption, or text drawn over a scan) are turned; with none there,
        the way the picture itself is set (:attr:`Picture.turn`). Decided per picture, not for
        the page: an upright logo or stamp on a page that is mostly a sideways table is read
        upright, and a sideways chart with sideways labels on an upright page is read turned."""
        near = Box(picture.box.x0 - _LABEL_MARGIN_X, picture.box.y0 - _LABEL_MARGIN_Y,
                   picture.box.x1 + _LABEL_MARGIN_X, picture.box.y1 + _LABEL_MARGIN_Y)
        votes = [0, 0, 0, 0]
        for box, turn, letters in self.words:
            if near.contains_center_of(box):
                votes[turn // 90] += letters
        best = max(votes)
        if best == 0 or votes[picture.turn // 90] == best:  # no letters near, or a tie: as the picture is set
            return picture.turn
        return 90 * votes.index(best)


def read_pdf_page(page: Any, page_id: str, *, name: str | None = None, page_number: int | None = None) -> PageText:
    """The text-layer words of a pypdfium2 page, in content order, and its figure regions."""
    return read_text_layer(page, page_id, name=name, page_number=page_number)[0]


def read_text_layer(page: Any, page_id: str, *, name: str | None = None, page_number: int | None = None,
                    turns: bool = False) -> tuple[PageText, LetterTurns]:
    """:func:`read_pdf_page`, and with ``turns`` how its words are turned (:class:`LetterTurns`,
    for the pictures the reader OCRs), read in the same pass over the text layer; without
    ``turns`` that is empty and costs nothing."""
    with text_page(page, name or page_id, page_number) as textpage:  # a text layer pdfium cannot load is said first
        frame = PageFrame(page)
        words, letters = _words(textpage, frame, turns=turns)
    figures = _figure_boxes(page, frame, words)
    return PageText(page_id=page_id, words=words, figure_boxes=figures, source="text-layer"), LetterTurns(tuple(letters))


def raster_image_boxes(page: Any, *, min_area: float = _MIN_FIGURE_AREA) -> list[Box]:
    """Boxes (display fractions) of the raster images drawn on the page, largest first."""
    return [p.box for p in raster_images(page, min_area=min_area)]


def raster_images(page: Any, *, min_area: float = _MIN_FIGURE_AREA) -> list[Picture]:
    """The raster images drawn on the page (:class:`Picture`), largest first."""
    import pypdfium2.raw as pdfium_c

    frame = PageFrame(page)
    pictures = []
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        box = frame.box(obj.get_bounds())
        if box.area >= min_area:
            m = obj.get_matrix()  # the image's up is its matrix's (c, d), in user space (y up)
            pictures.append(Picture(box, (_quadrant(math.atan2(m.c, m.d)) + frame.rotation) % 360))
    return sorted(pictures, key=lambda p: -p.box.area)


def _quadrant(radians: float) -> int:
    """An angle (clockwise) as the nearest of 0, 90, 180 and 270 degrees."""
    return 90 * (round(math.degrees(radians) / 90.0) % 4)


def _words(textpage: Any, frame: PageFrame, *, turns: bool = False) -> tuple[list[Word], list[tuple[Box, int, int]]]:
    """The words, and with ``turns`` each word's (box, turn as displayed, letters): the turn of a
    word is its first letter's (one ctypes call a word, not a letter: its letters are set alike)."""
    import pypdfium2.raw as pdfium_c

    text = textpage.get_text_range()
    n = min(len(text), textpage.count_chars())
    words: list[Word] = []
    letter_turns: list[tuple[Box, int, int]] = []
    chars: list[str] = []
    box: list[float] | None = None
    first_letter = -1
    letters = 0

    def flush() -> None:
        nonlocal box, first_letter, letters
        if chars and box is not None:
            word_box = frame.box((box[0], box[1], box[2], box[3]))
            words.append(Word("".join(chars), word_box, "text-layer"))
            if turns and first_letter >= 0:
                angle = pdfium_c.FPDFText_GetCharAngle(textpage, first_letter)  # clockwise, in user space
                if angle >= 0:  # -1: pdfium could not tell
                    letter_turns.append((word_box, (_quadrant(angle) + frame.rotation) % 360, letters))
        chars.clear()
        box, first_letter, letters = None, -1, 0

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
        if ch.isalnum():
            letters += 1
            if first_letter < 0:
                first_letter = i
    flush()
    return words, letter_turns


def _figure_boxes(page: Any, frame: PageFrame, words: list[Word]) -> list[Box]:
    """Clusters of drawn content (vector paths, images, embedded forms) big enough to be figures."""
    import pypdfium2.raw as pdfium_c

    kinds = (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_FORM)
    width, height = frame.width, frame.height  # as displayed, as the boxes are
    gap_x, gap_y = _MERGE_GAP_PT / width, _MERGE_GAP_PT / height
    seeds: list[Box] = []
    for obj in page.get_objects(filter=kinds, max_depth=1):
        left, bottom, right, top = obj.get_bounds()
        if obj.type == pdfium_c.FPDF_PAGEOBJ_PATH and min(right - left, top - bottom) < _MIN_PATH_EXTENT_PT:
            continue
        seeds.append(frame.box((left, bottom, right, top)))
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
