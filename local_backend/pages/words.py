"""What the OCR-assisted retriever knows about a page: its words, where they sit, where it draws.

Coordinates are fractions of the page (0..1, origin top left), so the PDF text layer (points,
origin bottom left) and tesseract (pixels, origin top left) land in one frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Box", "Word", "PageText", "WordSource", "words_in", "reading_text", "text_lines"]

WordSource = Literal["text-layer", "ocr"]


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in page fractions: ``x0 < x1``, ``y0 < y1``, ``y`` growing downwards."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def contains_center_of(self, other: "Box") -> bool:
        cx, cy = (other.x0 + other.x1) / 2, (other.y0 + other.y1) / 2
        return self.x0 <= cx <= self.x1 and self.y0 <= cy <= self.y1

    def union(self, other: "Box") -> "Box":
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def expanded(self, margin: float) -> "Box":
        return Box(max(0.0, self.x0 - margin), max(0.0, self.y0 - margin), min(1.0, self.x1 + margin), min(1.0, self.y1 + margin))

    def overlaps(self, other: "Box") -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


@dataclass(frozen=True)
class Word:
    """One word as read from the page, with its box and where the reading came from."""

    text: str
    box: Box
    source: WordSource


@dataclass
class PageText:
    """The words of one page in reading order, plus the regions that hold pictures.

    ``figure_boxes`` are the areas drawn as graphics (raster images, or clusters of vector
    paths: charts and diagrams). ``source`` says which reader produced most of the words.
    """

    page_id: str
    words: list[Word] = field(default_factory=list)
    figure_boxes: list[Box] = field(default_factory=list)
    source: str = "text-layer"

    @property
    def text(self) -> str:
        return reading_text(self.words)


def words_in(words: Iterable[Word], box: Box) -> list[Word]:
    """The words whose centres fall inside ``box``."""
    return [w for w in words if box.contains_center_of(w.box)]


def reading_text(words: Iterable[Word]) -> str:
    return " ".join(w.text for w in words)


def text_lines(words: Iterable[Word]) -> list[list[Word]]:
    """The words grouped into lines, in reading order: a line ends where the next word's centre
    sits more than 0.6 of a word height above or below the last one, or jumps back left (the
    next line, or the next column)."""
    lines: list[list[Word]] = []
    last_y = 0.0
    for w in words:
        y = (w.box.y0 + w.box.y1) / 2
        height = max(1e-3, w.box.y1 - w.box.y0)
        if not lines or abs(y - last_y) > 0.6 * height or w.box.x0 < lines[-1][-1].box.x0 - 0.05:
            lines.append([])
        lines[-1].append(w)
        last_y = y
    return lines
