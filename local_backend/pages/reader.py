"""Reading pages: text layer where there is one, tesseract where there is not, in parallel.

:func:`read_pages` walks the pages in order. For a PDF page with a text layer it takes the
words from pypdfium2 and OCRs only the raster images drawn on it; a PDF page without one, a
page marked as a scan, and every image file go to tesseract whole. PDFs are opened and
scans rendered by :mod:`vertex_mm.pages.ingest`. OCR runs in an :class:`~.ocr.OcrPool` while the
next pages are rendered, and pages come back in input order, ``lookahead`` at most in flight,
so memory stays flat for a corpus of any length.

Each :class:`ReadPage` also carries a small rendering of the page and crops of its figures for
the CNN region vectors. A page that cannot be read comes back with ``error`` set and no words;
the others go on.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from vertex_mm.errors import VertexMMError
from vertex_mm.pages.ingest import OpenPdfs, PageRef
from vertex_mm.pdf import fit_scale

from .ocr import OcrPool, OcrResult
from .text_layer import has_text_layer, raster_images, read_text_layer
from .words import Box, PageText, Word

__all__ = ["ReadPage", "ReaderSettings", "read_pages"]

_POINTS_PER_INCH = 72.0


@dataclass(frozen=True)
class ReaderSettings:
    """Resolutions: ``ocr_dpi`` for tesseract (a PDF page read by OCR is rendered at it; 150 read
    image-only pages with 14% less CPU than 200 and the same nDCG@5 on the dev split, see
    ``benchmarks/pages_index_speed.py --image-only``); ``image_side`` (pixels, long side) for
    the CNN page image, from which figure crops are also cut. ``force_ocr``: ignore every
    page's text layer and OCR the whole page (image-only indexing; the "OCR + BM25" baseline).
    """

    ocr_dpi: int = 150
    region_ocr_dpi: int = 300
    image_side: int = 1024
    max_crops: int = 4
    ocr_image_regions: bool = True
    force_ocr: bool = False
    images: bool = True  # render the page image and figure crops (only the "visual" component needs them)


@dataclass
class ReadPage:
    """One page as the retriever sees it."""

    ref: PageRef
    text: PageText
    thumbnail: Any = None  # PIL image, long side ~image_side
    crops: list[Any] = field(default_factory=list)  # PIL images of figure regions
    ocr_pages: int = 0  # 1 when the whole page went through tesseract
    ocr_regions: int = 0
    ocr_cached: int = 0
    error: VertexMMError | None = None


@dataclass
class _Region:
    """A picture sent to OCR: its box, the turn its crop was given, and for a turned crop a way
    to read it as displayed (the crop is kept only for those)."""

    box: Box
    turn: int
    future: "Future[OcrResult]"
    upright: "Callable[[], Future[OcrResult]] | None" = None


@dataclass
class _Pending:
    page: ReadPage
    page_future: "Future[OcrResult] | None" = None
    regions: list[_Region] = field(default_factory=list)


def read_pages(refs: Iterable[PageRef], pool: OcrPool, settings: ReaderSettings = ReaderSettings(),
               *, lookahead: int | None = None) -> Iterator[ReadPage]:
    """Yield a :class:`ReadPage` per ref, in order."""
    depth = lookahead or max(4, 3 * pool.workers)
    pending: collections.deque[_Pending] = collections.deque()
    with OpenPdfs() as pdfs:
        for ref in refs:
            pending.append(_start(ref, pool, settings, pdfs))
            while len(pending) > depth:
                yield _finish(pending.popleft())
        while pending:
            yield _finish(pending.popleft())


def _start(ref: PageRef, pool: OcrPool, settings: ReaderSettings, pdfs: OpenPdfs) -> _Pending:
    try:
        if ref.is_pdf and not ref.scan:
            return _start_pdf(ref, pool, settings, pdfs)
        # An image file, or a page read as a scanner delivers it (gray, no text layer).
        return _start_image(ref, pdfs.page_image(ref).image, pool, settings)
    except VertexMMError as exc:
        return _Pending(ReadPage(ref, PageText(ref.page_id, source="unreadable"), error=exc))


def _start_pdf(ref: PageRef, pool: OcrPool, settings: ReaderSettings, pdfs: OpenPdfs) -> _Pending:
    page = pdfs.page(ref.path, ref.page_number)
    try:
        if not settings.force_ocr and has_text_layer(page, str(ref.path), ref.page_number):
            pictures = raster_images(page)[: settings.max_crops] if settings.ocr_image_regions else []
            # how the words are turned is read with them, and only for a page with pictures to turn
            text, letters = read_text_layer(page, ref.page_id, name=str(ref.path), page_number=ref.page_number,
                                            turns=bool(pictures))
            pending = _Pending(ReadPage(ref, text))
            region_settings = dataclasses.replace(pool.settings, psm=11)
            for picture in pictures:
                crop = _render(page, settings.region_ocr_dpi / _POINTS_PER_INCH, picture.box)
                turn = letters.turn_of(picture)  # tesseract reads upright text only
                if not turn:
                    pending.regions.append(_Region(picture.box, 0, pool.submit(crop, settings=region_settings,
                                                                                 name=ref.page_id)))
                    continue
                turned = pool.submit(crop.rotate(turn, expand=True), settings=region_settings, name=ref.page_id)
                upright = functools.partial(pool.submit, crop, settings=region_settings, name=ref.page_id)
                pending.regions.append(_Region(picture.box, turn, turned, upright))
        else:
            full = _render(page, settings.ocr_dpi / _POINTS_PER_INCH)
            text = PageText(ref.page_id, figure_boxes=[], source="ocr")
            pending = _Pending(ReadPage(ref, text, ocr_pages=1), page_future=pool.submit(full, name=ref.page_id, rendered=True))
        if settings.images:
            _attach_images(pending.page, _render(page, settings.image_side / max(page.get_size())), settings)
        return pending
    finally:
        page.close()


def _start_image(ref: PageRef, image: Any, pool: OcrPool, settings: ReaderSettings) -> _Pending:
    text = PageText(ref.page_id, source="ocr")
    pending = _Pending(ReadPage(ref, text, ocr_pages=1), page_future=pool.submit(image, name=ref.page_id))
    if settings.images:
        _attach_images(pending.page, image, settings)
    return pending


def _render(page: Any, scale: float, box: Box | None = None) -> Any:
    """``page`` (or the ``box`` of it) at ``scale``, or at the scale that keeps the bitmap within
    :func:`vertex_mm.pdf.fit_scale`'s bound: a poster-sized page, or a damaged MediaBox of miles,
    would otherwise ask for gigabytes (OCR reads word boxes as fractions of the image)."""
    w, h = page.get_size()
    crop = (0.0, 0.0, 0.0, 0.0)
    if box is not None:
        crop = (box.x0 * w, (1 - box.y1) * h, (1 - box.x1) * w, box.y0 * h)  # left, bottom, right, top margins
    scale = fit_scale(w - crop[0] - crop[2], h - crop[1] - crop[3], scale)
    return page.render(scale=scale, crop=crop).to_pil().convert("RGB")


def _attach_images(page: ReadPage, image: Any, settings: ReaderSettings) -> None:
    thumb = image.copy()
    thumb.thumbnail((settings.image_side, settings.image_side))
    page.thumbnail = thumb
    W, H = image.size
    for box in page.text.figure_boxes[: settings.max_crops]:
        left, top = int(box.x0 * W), int(box.y0 * H)
        page.crops.append(image.crop((left, top, max(int(box.x1 * W), left + 1), max(int(box.y1 * H), top + 1))))


def _finish(p: _Pending) -> ReadPage:
    page = p.page
    try:
        if p.page_future is not None:
            result = p.page_future.result()
            page.text.words = result.words
            page.ocr_cached += int(result.cached)
        for region in p.regions:
            result, turn = region.future.result(), region.turn
            if turn and not result.words and region.upright is not None:
                # The letters near it are set another way than the picture's own text (a label
                # beside an upright stamp): read it as displayed too. Only a turned crop that
                # read nothing pays for this second read, and the cache keeps both.
                result, turn = region.upright().result(), 0
            page.ocr_regions += 1
            page.ocr_cached += int(result.cached)
            page.text.words += [_into(region.box, _unturn(w, turn)) for w in result.words]
    except VertexMMError as exc:
        page.error = exc
    return page


def _into(box: Box, word: Word) -> Word:
    """A word OCR'd in a crop, moved into page fractions."""
    bw, bh = box.x1 - box.x0, box.y1 - box.y0
    b = word.box
    return Word(word.text, Box(box.x0 + b.x0 * bw, box.y0 + b.y0 * bh, box.x0 + b.x1 * bw, box.y0 + b.y1 * bh), "ocr")


def _unturn(word: Word, turn: int) -> Word:
    """A word OCR'd in a crop that was turned ``turn`` degrees counter-clockwise (PIL's
    ``rotate``), moved back into the fractions of the crop as the page displays it."""
    b = word.box
    if turn == 90:  # the crop's top edge became the left side: (x, y) was (1 - y, x)
        x0, y0, x1, y1 = 1 - b.y1, b.x0, 1 - b.y0, b.x1
    elif turn == 180:
        x0, y0, x1, y1 = 1 - b.x1, 1 - b.y1, 1 - b.x0, 1 - b.y0
    elif turn == 270:  # the crop's top edge became the right side: (x, y) was (y, 1 - x)
        x0, y0, x1, y1 = b.y0, 1 - b.x1, b.y1, 1 - b.x0
    else:
        return word
    return Word(word.text, Box(x0, y0, x1, y1), word.source)
