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

import os
from typing import TYPE_CHECKING, Any

from .errors import InvalidDocumentError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["PdfFile", "open_pdf", "pdf_page_count"]

_POINTS_PER_INCH = 72.0


def _pdfium() -> Any:
    # A core dependency, imported on first use: `import vertex_mm` stays light.
    import pypdfium2

    return pypdfium2


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
        return self._doc[index]

    def page_size(self, index: int) -> tuple[float, float]:
        """Width and height of a page in PDF points (1/72 inch)."""
        page = self.page(index)
        try:
            w, h = page.get_size()
            return float(w), float(h)
        finally:
            page.close()

    def render(self, index: int, *, dpi: float = 144.0, scale: float | None = None, grayscale: bool = False,
               crop: tuple[float, float, float, float] | None = None) -> PILImage.Image:
        """Page ``index`` as an RGB (or L) PIL image at ``dpi`` (or ``scale`` pixels per point).
        ``crop`` is (left, bottom, right, top) margins in points."""
        page = self.page(index)
        try:
            bitmap = page.render(scale=scale if scale is not None else dpi / _POINTS_PER_INCH,
                                 crop=crop or (0, 0, 0, 0), grayscale=grayscale)
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
        raise InvalidDocumentError(f"{label}: not a readable PDF ({exc})", input_name=label) from exc


def pdf_page_count(source: str | os.PathLike[str] | bytes, *, name: str | None = None) -> int:
    """Pages of a PDF (opens it, renders nothing)."""
    with open_pdf(source, name=name) as pdf:
        return len(pdf)
