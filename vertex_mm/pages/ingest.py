"""Documents in, page images out: PDFs rendered with pypdfium2, or folders of page images.

Every page comes out as a :class:`PageImage` carrying its document id, 1-based page number,
the page's size (PDF points and rendered pixels) and the DPI it was rendered at. Pages are
produced one at a time (generators), and a PDF page's bitmap is released before the next is
rendered, so a 2,000-page PDF never holds more than one page image (plus whatever batch the
caller keeps: :func:`iter_page_batches`).

pypdfium2 is in the ``local`` extra; it is imported when a PDF is first opened.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._optional import require
from ..errors import InputError

__all__ = [
    "DEFAULT_DPI",
    "IMAGE_SUFFIXES",
    "InvalidDocumentError",
    "PageImage",
    "iter_document_pages",
    "iter_image_folder",
    "iter_page_batches",
    "iter_pdf_pages",
    "pdf_page_count",
]

DEFAULT_DPI = 144
#: Pages larger than this many pixels are rendered at a lower DPI (recorded in the metadata).
MAX_PAGE_PIXELS = 40_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


class InvalidDocumentError(InputError):
    """Raised when a PDF cannot be opened or rendered, or a page image cannot be decoded."""


@dataclass
class PageImage:
    """One page as an RGB image, with where it came from."""

    doc_id: str
    page_number: int
    image: Any  # PIL.Image.Image
    source: str = ""
    dpi: float | None = None
    size_points: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.doc_id}#{self.page_number}"

    def metadata(self) -> dict[str, Any]:
        """What an index stores with the page (JSON-serialisable)."""
        meta: dict[str, Any] = {"source": self.source, "width": self.image.width, "height": self.image.height}
        if self.dpi is not None:
            meta["dpi"] = round(float(self.dpi), 3)
        if self.size_points is not None:
            meta["width_pt"], meta["height_pt"] = (round(float(v), 3) for v in self.size_points)
        meta.update(self.extra)
        return meta


def _pdfium() -> Any:
    return require("local", "pypdfium2", what="reading PDFs")


def _open_pdf(path: Path) -> Any:
    pdfium = _pdfium()
    if not path.is_file():
        raise InvalidDocumentError(f"PDF {str(path)!r} does not exist", input_name=str(path))
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise InvalidDocumentError(f"{str(path)!r} is not a readable PDF: {exc}", input_name=str(path)) from exc


def pdf_page_count(path: str | os.PathLike[str]) -> int:
    """Number of pages of a PDF (opens it, renders nothing)."""
    pdf = _open_pdf(Path(path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def iter_pdf_pages(
    path: str | os.PathLike[str],
    *,
    dpi: float = DEFAULT_DPI,
    doc_id: str | None = None,
    pages: Iterable[int] | None = None,
    max_pixels: int = MAX_PAGE_PIXELS,
) -> Iterator[PageImage]:
    """Render a PDF's pages (all, or the 1-based ``pages``) one at a time as RGB images.

    ``doc_id`` defaults to the file name without ".pdf". A page that would exceed ``max_pixels`` at ``dpi``
    is rendered at the DPI that fits. Raises :class:`InvalidDocumentError` for a missing or
    unreadable file and for a page number outside the document.
    """
    if dpi <= 0:
        raise InputError(f"dpi must be positive, got {dpi}", input_name="dpi")
    p = Path(path)
    pdf = _open_pdf(p)
    doc = doc_id or p.stem
    try:
        n = len(pdf)
        wanted = list(pages) if pages is not None else list(range(1, n + 1))
        for number in wanted:
            if not 1 <= number <= n:
                raise InvalidDocumentError(f"{p.name} has {n} pages; page {number} does not exist", input_name=str(p))
            page = pdf[number - 1]
            try:
                w_pt, h_pt = page.get_size()
                scale = dpi / 72.0
                if w_pt * h_pt * scale * scale > max_pixels:
                    scale = (max_pixels / (w_pt * h_pt)) ** 0.5
                    while math.ceil(w_pt * scale) * math.ceil(h_pt * scale) > max_pixels:
                        scale *= 0.999  # pdfium rounds the bitmap size up
                bitmap = page.render(scale=scale)
                try:
                    image = bitmap.to_pil().convert("RGB")
                finally:
                    bitmap.close()
            finally:
                page.close()
            yield PageImage(doc, number, image, source=str(p), dpi=scale * 72.0, size_points=(w_pt, h_pt))
    finally:
        pdf.close()


def iter_image_folder(folder: str | os.PathLike[str], *, doc_id: str | None = None) -> Iterator[PageImage]:
    """Each image file of ``folder`` (sorted by name) is one page of one document.

    ``doc_id`` defaults to the folder name; page numbers follow the sorted file names.
    An undecodable file raises :class:`InvalidDocumentError` naming it.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(folder)
    files = sorted(f for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidDocumentError(f"{str(root)!r} holds no page images ({', '.join(IMAGE_SUFFIXES)})", input_name=str(root))
    for number, f in enumerate(files, start=1):
        try:
            with Image.open(f) as im:
                image = im.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidDocumentError(f"{str(f)!r} is not a readable image: {exc}", input_name=str(f)) from exc
        yield PageImage(doc_id or root.name, number, image, source=str(f), extra={"file": f.name})


def iter_document_pages(
    sources: Iterable[str | os.PathLike[str]], *, dpi: float = DEFAULT_DPI
) -> Iterator[PageImage]:
    """Pages of many documents: each source is a PDF, a folder of PDFs, or a folder of images.

    A folder that holds PDFs yields each PDF (sorted) as a document; a folder without PDFs is
    one document made of its images.
    """
    for src in sources:
        p = Path(src)
        if p.is_dir():
            pdfs = sorted(f for f in p.iterdir() if f.suffix.lower() == ".pdf")
            if pdfs:
                for f in pdfs:
                    yield from iter_pdf_pages(f, dpi=dpi)
            else:
                yield from iter_image_folder(p)
        elif p.suffix.lower() == ".pdf":
            yield from iter_pdf_pages(p, dpi=dpi)
        else:
            raise InvalidDocumentError(f"{str(p)!r} is neither a PDF nor a folder", input_name=str(p))


def iter_page_batches(pages: Iterable[PageImage], batch_size: int) -> Iterator[list[PageImage]]:
    """Group a page stream into lists of at most ``batch_size`` pages (memory stays bounded)."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}", input_name="batch_size")
    batch: list[PageImage] = []
    for page in pages:
        batch.append(page)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
