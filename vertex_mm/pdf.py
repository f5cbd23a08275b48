"""The one place vertex-mm opens PDF files: pypdfium2 behind a small, typed surface.

Everything that reads a PDF (the content checks of gemini-embedding-2, page ingestion for
page search, the OCR-assisted reader, the local backend's document parts) opens it here, so
a damaged file fails the same way everywhere: :class:`~vertex_mm.errors.InvalidDocumentError`
naming the file.

>>> with open_pdf("report.pdf") as pdf:                     # doctest: +SKIP
...     n = len(pdf)
...     image = pdf.render(0, dpi=144)                       # a PIL image of page 1
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import InvalidDocumentError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["MAX_PAGE_PIXELS", "MAX_PAGE_SIDE", "PdfFile", "fit_scale", "open_pdf", "pdf_page_count", "text_page"]

_POINTS_PER_INCH = 72.0
#: pdfium's FPDF_ERR_PASSWORD: the document is encrypted and the (empty) password does not open it.
_FPDF_ERR_PASSWORD = 4
#: The date pdfium stamps on a saved file (its seconds change from one save to the next).
_SAVE_DATE = re.compile(rb"(/(?:CreationDate|ModDate)\s*\(D:)\d{14}")
#: A page tree node's page count (``/Count 0`` is a PDF without pages, which PDFium will not load).
_PAGE_COUNT = re.compile(rb"/Count\s+(\d+)")
#: No page renders to more pixels than this (a legal 200x200 inch page at 200 dpi would be
#: 1.6 Gpixel), nor to a side longer than :data:`MAX_PAGE_SIDE`; larger pages render at the
#: resolution that fits, and the image says which (its size).
MAX_PAGE_PIXELS = 40_000_000
MAX_PAGE_SIDE = 16_384


def fit_scale(width_pt: float, height_pt: float, scale: float, *, max_pixels: int = MAX_PAGE_PIXELS,
              max_side: int = MAX_PAGE_SIDE) -> float:
    """The largest scale <= ``scale`` at which the rendered bitmap, whose sides pdfium rounds
    up, stays within ``max_pixels`` and ``max_side`` (measured on the rounded sizes, so very
    thin pages cannot slip past the bound)."""
    w, h = max(width_pt, 1e-6), max(height_pt, 1e-6)

    def fits(s: float) -> bool:
        pw, ph = math.ceil(w * s), math.ceil(h * s)
        return pw <= max_side and ph <= max_side and pw * ph <= max_pixels

    if fits(scale):
        return scale
    s = min(scale, max_side / w, max_side / h, math.sqrt(max_pixels / (w * h)))
    while s > 0 and not fits(s):
        s *= 0.999  # rounding up may still overshoot by a pixel row
    return s


def _pdfium() -> Any:
    # A core dependency, imported on first use: `import vertex_mm` stays light.
    import pypdfium2

    return pypdfium2


@contextlib.contextmanager
def text_page(page: Any, name: str, page_number: int | None = None) -> Iterator[Any]:
    """The text layer of a pypdfium2 ``page`` of the file ``name`` (1-based ``page_number``),
    closed after use. A text layer pdfium cannot load is :class:`InvalidDocumentError` with the
    file as ``input_name`` and the page in the message, as :meth:`PdfFile.page` words it."""
    try:
        textpage = page.get_textpage()
    except _pdfium().PdfiumError as exc:
        where = f"page {page_number}" if page_number is not None else "a page"
        raise InvalidDocumentError(f"{name}: {where}: the text layer cannot be read (a damaged PDF?): {exc}",
                                   input_name=name) from exc
    try:
        yield textpage
    finally:
        textpage.close()


class PdfFile:
    """An open PDF; close it (or use ``with``). Pages are 0-based here."""

    def __init__(self, doc: Any, name: str) -> None:
        self._doc = doc
        self.name = name

    def __len__(self) -> int:
        return len(self._doc)

    def page(self, index: int) -> Any:
        """The pypdfium2 page (text layer, objects, size); close it when done."""
        if not 0 <= index < len(self._doc):
            raise InvalidDocumentError(f"{self.name}: has {len(self._doc)} pages; page {index + 1} does not exist",
                                       input_name=self.name)
        try:
            return self._doc[index]
        except _pdfium().PdfiumError as exc:  # a page object the xref points past, or a damaged one
            raise InvalidDocumentError(f"{self.name}: page {index + 1} of {len(self._doc)} cannot be loaded "
                                       f"(a damaged PDF?): {exc}", input_name=self.name) from exc

    def page_size(self, index: int) -> tuple[float, float]:
        """Width and height of a page in PDF points (1/72 inch)."""
        page = self.page(index)
        try:
            w, h = page.get_size()
            return float(w), float(h)
        finally:
            page.close()

    def render(self, index: int, *, dpi: float = 144.0, scale: float | None = None, grayscale: bool = False,
               crop: tuple[float, float, float, float] | None = None, max_pixels: int = MAX_PAGE_PIXELS,
               max_side: int = MAX_PAGE_SIDE) -> PILImage.Image:
        """Page ``index`` as an RGB (or L) PIL image at ``dpi`` (or ``scale`` pixels per point),
        never larger than ``max_pixels`` / ``max_side`` (:func:`fit_scale`). ``crop`` is (left,
        bottom, right, top) margins in points."""
        page = self.page(index)
        try:
            w, h = page.get_size()
            left, bottom, right, top = crop or (0, 0, 0, 0)
            wanted = scale if scale is not None else dpi / _POINTS_PER_INCH
            fitted = fit_scale(w - left - right, h - top - bottom, wanted, max_pixels=max_pixels, max_side=max_side)
            bitmap = page.render(scale=fitted, crop=crop or (0, 0, 0, 0), grayscale=grayscale)
            try:
                image: PILImage.Image = bitmap.to_pil().convert("L" if grayscale else "RGB")
                return image
            finally:
                bitmap.close()
        except _pdfium().PdfiumError as exc:
            raise InvalidDocumentError(f"{self.name}: page {index + 1} cannot be rendered: {exc}",
                                       input_name=self.name) from exc
        finally:
            page.close()

    def extract(self, indices: list[int] | range) -> bytes:
        """A new PDF of the pages ``indices`` (0-based, in that order), as bytes: how a page or
        a chunk of pages is sent alone to a model that reads PDFs (gemini-embedding-2)."""
        for index in indices:
            self.page(index).close()  # the same range check and message as everywhere
        out = _pdfium().PdfDocument.new()
        try:
            out.import_pages(self._doc, list(indices))
            buf = io.BytesIO()
            out.save(buf)
            return _stable_id(buf.getvalue())
        except _pdfium().PdfiumError as exc:
            raise InvalidDocumentError(f"{self.name}: pages {[i + 1 for i in indices]} cannot be copied out: {exc}",
                                       input_name=self.name) from exc
        finally:
            out.close()

    @property
    def raw(self) -> Any:
        """The pypdfium2 document, for the rare reader that needs more (new documents,
        importing pages)."""
        return self._doc

    def close(self) -> None:
        self._doc.close()

    def __enter__(self) -> PdfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_TRAILER_ID = re.compile(rb"/ID\s*\[\s*<([0-9A-Fa-f]*)>\s*<([0-9A-Fa-f]*)>\s*\]")


def _stable_id(data: bytes) -> bytes:
    """pdfium writes a random ``/ID`` and the current second as ``/CreationDate`` into every
    saved file; fix the date and replace the ID (same lengths, so no offset moves) with a digest
    of the rest, so the same pages give the same bytes: content caches and the batch journal then
    recognise a page sent before (the date alone made two extracts a second apart differ)."""
    data = _SAVE_DATE.sub(lambda m: m.group(1) + b"19700101000000", data)
    matches = list(_TRAILER_ID.finditer(data))
    if not matches:
        return data
    m = matches[-1]
    width = len(m.group(1))
    blank = data[:m.start(1)] + b"0" * width + data[m.end(1):m.start(2)] + b"0" * len(m.group(2)) + data[m.end(2):]
    digest = hashlib.sha256(blank).hexdigest().upper().encode()
    first = (digest * (width // 64 + 1))[:width]
    second = (digest * (len(m.group(2)) // 64 + 1))[:len(m.group(2))]
    return data[:m.start(1)] + first + data[m.end(1):m.start(2)] + second + data[m.end(2):]


def open_pdf(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> PdfFile:
    """Open a PDF from a path or from bytes; :class:`InvalidDocumentError` when it cannot be."""
    pdfium = _pdfium()
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<PDF bytes>"
        if not source:
            raise InvalidDocumentError(f"{label}: the document is empty (0 bytes)", input_name=label)
        target: Any = bytes(source)
    else:
        label = name or os.fspath(source)
        if not os.path.isfile(source):
            raise InvalidDocumentError(f"{label}: no such PDF file", input_name=label)
        target = os.fspath(source)
    try:
        return PdfFile(pdfium.PdfDocument(target), label)
    except pdfium.PdfiumError as exc:
        # err_code came with pypdfium2 4.x releases after 4.30; older ones say it in the text only.
        if getattr(exc, "err_code", None) == _FPDF_ERR_PASSWORD or "password" in str(exc).lower():
            raise InvalidDocumentError(f"{label}: the PDF is password-protected (encrypted) and cannot be opened",
                                       input_name=label, hint="Save an unprotected copy (qpdf --decrypt "
                                       "--password=PASSWORD in.pdf out.pdf) and pass that") from exc
        if _empty_page_tree(target):  # PDFium refuses it with a stale or "Success" error text
            raise InvalidDocumentError(f"{label}: the PDF has no pages (its page tree is empty)", input_name=label) from exc
        raise InvalidDocumentError(f"{label}: not a readable PDF ({exc})", input_name=label) from exc


def _empty_page_tree(target: bytes | str) -> bool:
    """Whether a PDF PDFium would not load states a page count of 0 and no other (read only on
    that failure, from at most the first 64 MB; a tree inside a compressed object stream is not seen)."""
    if isinstance(target, str):
        try:
            with open(target, "rb") as f:
                target = f.read(64 << 20)
        except OSError:
            return False
    counts = set(_PAGE_COUNT.findall(target))
    return counts == {b"0"}


def pdf_page_count(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> int:
    """Pages of a PDF (opens it, renders nothing)."""
    with open_pdf(source, name=name) as pdf:
        return len(pdf)
