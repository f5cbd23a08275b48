"""Documents in, pages out: page references, the page-id scheme, and page images.

* :class:`PageRef` names one page before anything is read: a page of a PDF, or an image file.
  Its :attr:`~PageRef.page_id` follows the one scheme (:func:`page_id`): page ``n`` of
  ``report.pdf`` is ``"report#n"``, ``scan-7.png`` is ``"scan-7"``.
  :func:`expand_sources` turns files and folders into refs.
* :class:`PageImage` is a page rendered to an RGB image (:func:`iter_page_images`,
  :func:`iter_pdf_pages`), with its size in PDF points and pixels and the DPI it was rendered at.
  Pages are produced one at a time and a PDF page's bitmap is released before the next is
  rendered, so a 2,000-page PDF never holds more than one page image (plus whatever batch the
  caller keeps: :func:`iter_page_batches`).
* :class:`OpenPdfs` opens PDFs through :mod:`vertex_mm.pdf` (the one PDF opener), keeps the last
  one open (the pages of one file usually come together), renders pages, and lends the
  pypdfium2 pages to code that reads more than pixels (the OCR-assisted retriever reads text
  layers and drawing operators).

A ref marked ``scan=True`` is read as a scanner would deliver it: rendered at :data:`SCAN_DPI`
to grayscale, without its text layer (data sets use it to test the OCR path on real pages).

:class:`~vertex_mm.errors.InvalidDocumentError` names a file that cannot be read.
"""

from __future__ import annotations

import math
import os
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, InvalidDocumentError
from ..index.results import page_id  # the scheme, defined beside PageHit so that the index shares it
from ..limits import PAGE_IMAGE_SUFFIXES, PDF_SUFFIXES
from ..pdf import MAX_PAGE_PIXELS, MAX_PAGE_SIDE, PdfFile, fit_scale, open_pdf, pdf_page_count
from ..pixels import upright_rgb

__all__ = [
    "DEFAULT_DPI", "SCAN_DPI", "InvalidDocumentError", "OpenPdfs", "PageImage", "PageRef", "expand_sources",
    "iter_image_folder", "iter_page_batches", "iter_page_images", "iter_pdf_pages", "nfc", "page_id", "pdf_page_count",
    "read_image", "refuse_held_elsewhere", "unique_refs",
]

DEFAULT_DPI = 144
#: A scanned page: 200 dpi grayscale, what office scanners deliver by default.
SCAN_DPI = 200
# MAX_PAGE_PIXELS (from vertex_mm.pdf): pages larger than this many pixels are rendered at a
# lower DPI (recorded in the metadata), and page image files larger than it are refused.


def nfc(id_: str) -> str:
    """An id in the one form ids are compared in (Unicode NFC): "résumé" typed, or unpacked by a
    tool that writes NFD (macOS, some zip tools), is one id. Indexes written before ids were
    normalised hold the form the file system gave, so a held id is compared through this too."""
    return id_ if id_.isascii() else unicodedata.normalize("NFC", id_)  # ASCII is NFC: the common case costs nothing


@dataclass(frozen=True)
class PageRef:
    """One page, not yet read: page ``page_number`` (1-based) of a PDF, or an image file.

    ``doc_id`` defaults to the file's stem. ``scan`` reads a PDF page as a scanned image
    (rendered at :data:`SCAN_DPI`, grayscale, no text layer).
    """

    path: Path
    page_number: int = 1
    scan: bool = False
    doc_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        # NFC: "résumé" typed, or unpacked by a tool that writes NFD (macOS, some zip tools), is one
        # id, so that the clash checks see the pair and a qrels file or a filter matches either form
        object.__setattr__(self, "doc_id", nfc(self.doc_id or self.path.stem))

    @property
    def is_pdf(self) -> bool:
        return self.path.suffix.lower() in PDF_SUFFIXES

    @property
    def page_id(self) -> str:
        return page_id(self.doc_id, self.page_number, single_image=not self.is_pdf)


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
    page_id: str = ""

    def __post_init__(self) -> None:
        if not self.page_id:
            self.page_id = page_id(self.doc_id, self.page_number)

    @property
    def key(self) -> str:
        """The page id (the same as :attr:`page_id`)."""
        return self.page_id

    def metadata(self) -> dict[str, Any]:
        """What an index stores with the page (JSON-serialisable)."""
        meta: dict[str, Any] = {"source": self.source, "width": self.image.width, "height": self.image.height}
        if self.dpi is not None:
            meta["dpi"] = round(float(self.dpi), 3)
        if self.size_points is not None:
            meta["width_pt"], meta["height_pt"] = (round(float(v), 3) for v in self.size_points)
        meta.update(self.extra)
        return meta


# --- reading PDFs -----------------------------------------------------------------------------


class OpenPdfs:
    """PDFs opened on demand (through :func:`vertex_mm.pdf.open_pdf`, the one PDF opener),
    keeping the last one open: the pages of one file usually come together. ``with`` closes it.

    >>> with OpenPdfs() as pdfs:                                  # doctest: +SKIP
    ...     page = pdfs.page(Path("report.pdf"), 3)    # a pypdfium2 PdfPage; the caller closes it
    ...     image = pdfs.page_image(PageRef(Path("report.pdf"), 3)).image
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._pdf: PdfFile | None = None

    def document(self, path: Path) -> PdfFile:
        """The open :class:`~vertex_mm.pdf.PdfFile` of ``path``."""
        if self._pdf is None or self._path != path:
            self.close()
            self._pdf = open_pdf(path)
            self._path = path
        return self._pdf

    def page(self, path: Path, number: int) -> Any:
        """Page ``number`` (1-based) of ``path`` as a pypdfium2 ``PdfPage`` (close it after use);
        raises :class:`InvalidDocumentError` for a page the document does not have."""
        return self.document(path).page(number - 1)

    def page_image(self, ref: PageRef, *, dpi: float = DEFAULT_DPI, max_pixels: int = MAX_PAGE_PIXELS) -> PageImage:
        """The page ``ref`` names as an RGB image: a PDF page at ``dpi`` (lower when the page would
        exceed ``max_pixels``), a scan at :data:`SCAN_DPI` in gray, an image file as it is."""
        if not ref.is_pdf:
            return PageImage(ref.doc_id, ref.page_number, read_image(ref.path), source=str(ref.path),
                             extra={"file": ref.path.name}, page_id=ref.page_id)
        pdf = self.document(ref.path)
        index = ref.page_number - 1
        w_pt, h_pt = pdf.page_size(index)
        # the scale render() fits to (the pixel and side bounds both), so the recorded DPI is the real one
        scale = fit_scale(w_pt, h_pt, (SCAN_DPI if ref.scan else dpi) / 72.0, max_pixels=max_pixels)
        image = pdf.render(index, scale=scale, max_pixels=max_pixels)
        if ref.scan:  # stored as 8-bit gray, as a scanner's PNG: the same pixels in every channel
            image = image.convert("L").convert("RGB")
        return PageImage(ref.doc_id, ref.page_number, image, source=str(ref.path), dpi=scale * 72.0,
                         size_points=(w_pt, h_pt), page_id=ref.page_id)

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
        self._pdf, self._path = None, None

    def __enter__(self) -> OpenPdfs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- page references --------------------------------------------------------------------------


def expand_sources(paths: Iterable[str | os.PathLike[str]], *, errors: list[str] | None = None,
                   notes: list[str] | None = None) -> list[PageRef]:
    """Refs for files and folders: every page of each PDF, and each page image as one page.
    Folders are searched recursively (sorted); a file reached twice (``docs/ docs/a.pdf``, a
    link to it) is taken once, where it first comes, under the name that is not a link
    (``current.pdf -> report-2024.pdf`` is indexed as ``report-2024``); with a ``notes`` list,
    each name dropped so is said there. Anything else raises :class:`InputError`,
    as do two files that would make one document id (``a/report.pdf`` and ``b/report.pdf``,
    or ``report.pdf`` and ``report.png``). A PDF that cannot be opened raises
    :class:`InvalidDocumentError`; with an ``errors`` list it is appended there instead
    (``"FILE: why"``) and the other files go on (one bad file never sinks a folder)."""
    accepted = PDF_SUFFIXES | PAGE_IMAGE_SUFFIXES
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in accepted)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder", input_name=str(p))
    refs: list[PageRef] = []
    for f in _one_name_each(files, notes):
        suffix = f.suffix.lower()
        if suffix in PDF_SUFFIXES:
            try:
                count = pdf_page_count(f)
            except InvalidDocumentError as exc:
                if errors is None:
                    raise
                errors.append(str(exc) if str(f) in str(exc) else f"{f}: {exc}")
                continue
            refs += [PageRef(f, n) for n in range(1, count + 1)]
        elif suffix in PAGE_IMAGE_SUFFIXES:
            refs.append(PageRef(f))
        else:
            raise InputError(f"{f}: not a PDF or page image (accepted: {', '.join(sorted(accepted))})", input_name=str(f))
    # One document id, one file (the late-interaction index adds a document once, and the others
    # would list the pages of two files as one document), and one page id, one file ("a#1.png"
    # and page 1 of "a.pdf").
    docs: dict[str, Path] = {}
    pages: dict[str, Path] = {}
    for r in refs:
        for what, key, seen in (("document", r.doc_id, docs), ("page id", r.page_id, pages)):
            if seen.setdefault(key, r.path) != r.path:
                raise InputError(f"{what} {key!r} comes from both {seen[key]} and {r.path}; rename one",
                                 input_name=str(r.path))
    return refs


def unique_refs(refs: Iterable[PageRef]) -> list[PageRef]:
    """``refs`` without a repeat of a page already listed (the same page of the same file, by
    real path, as the same document), in their first order: a page given twice is read, billed
    and stored once."""
    real: dict[Path, str] = {}
    seen: set[tuple[str, int, bool, str]] = set()
    out: list[PageRef] = []
    for r in refs:
        key = (real.setdefault(r.path, os.path.realpath(r.path)), r.page_number, r.scan, r.doc_id)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _one_name_each(files: list[Path], notes: list[str] | None) -> list[Path]:
    """``files`` with each file once, by real path: of two names of one file, the one that is no
    link (its path is its real path; else, its last part is no link), else the first; in the
    order each file first comes. A dropped name that differs from the kept one is said in
    ``notes``: ``current.pdf -> report-2024.pdf`` would otherwise lose a document name silently,
    and keep whichever sorted first."""
    chosen: dict[str, Path] = {}
    names: dict[str, list[Path]] = {}
    for f in files:
        real = os.path.realpath(f)
        names.setdefault(real, []).append(f)
        kept = chosen.setdefault(real, f)
        if _link_rank(f, real) < _link_rank(kept, real):
            chosen[real] = f
    if notes is not None:
        for real, kept in chosen.items():
            for dropped in dict.fromkeys(n for n in names[real] if str(n) != str(kept)):
                how = "a link to" if dropped.is_symlink() else "the same file as"
                notes.append(f"{dropped} is {how} {kept}: indexed once, as {nfc(kept.stem)!r}")
    return list(chosen.values())


def _link_rank(path: Path, real: str) -> int:
    """0 for a name that reaches its file through no link, 1 for one whose folders are links but
    not itself, 2 for a link."""
    if os.path.abspath(path) == real:
        return 0
    return 2 if path.is_symlink() else 1


def refuse_held_elsewhere(refs: Iterable[PageRef], held: dict[str, str], *, by_doc: bool = False) -> None:
    """Refuse refs whose page id (``by_doc``: document id) an index already holds from another
    file. ``held`` maps ids to the ``source`` path the index recorded for them.

    Ids come from file names, so ``2023/report.pdf`` and ``2024/report.pdf`` share them: without
    this check an update took the second for the first ("already there") or mixed their pages
    under one document. A clash is an existing recorded file that is not the new one; a
    recorded path that does not resolve from here (the folder moved, another working
    directory) cannot be compared, and counts as the same document, as before. Held ids are
    compared in NFC (:func:`nfc`), as refs' ids are: an index built before ids were normalised
    holds NFD ids of NFD file names."""
    held = {nfc(k): v for k, v in held.items()}
    for r in refs:
        source = held.get(r.doc_id if by_doc else r.page_id)
        if not source:
            continue
        try:
            same = os.path.samefile(source, r.path)
        except (OSError, ValueError):  # gone, or not a path this system can stat: cannot tell
            continue
        if not same:
            what = f"document {r.doc_id!r}" if by_doc else f"page id {r.page_id!r}"
            raise InputError(f"{what} of {r.path} is already in the index from another file, {source}; rename one, or "
                             "index it into another index", input_name=str(r.path))


# --- rendering --------------------------------------------------------------------------------


def iter_page_images(refs: Iterable[PageRef], *, dpi: float = DEFAULT_DPI, max_pixels: int = MAX_PAGE_PIXELS,
                     errors: list[str] | None = None) -> Iterator[PageImage]:
    """Render each ref, in order, one at a time (PDF pages at ``dpi``, scans at :data:`SCAN_DPI`).
    A page that cannot be read raises :class:`InvalidDocumentError`; with an ``errors`` list
    it is appended there (``"PAGE_ID: why"``) and skipped."""
    if not (math.isfinite(dpi) and dpi > 0):  # NaN compares false with everything
        raise InputError(f"dpi must be a positive number, got {dpi}", input_name="dpi")
    with OpenPdfs() as pdfs:
        for ref in refs:
            try:
                image = pdfs.page_image(ref, dpi=dpi, max_pixels=max_pixels)
            except InvalidDocumentError as exc:
                if errors is None:
                    raise
                errors.append(f"{ref.page_id}: {exc}")
                continue
            yield image


def iter_pdf_pages(
    path: str | os.PathLike[str],
    *,
    dpi: float = DEFAULT_DPI,
    doc_id: str | None = None,
    pages: Sequence[int] | None = None,
    max_pixels: int = MAX_PAGE_PIXELS,
) -> Iterator[PageImage]:
    """Render a PDF's pages (all, or the 1-based ``pages``) one at a time as RGB images.

    ``doc_id`` defaults to the file name without ".pdf". A page that would exceed ``max_pixels`` at ``dpi``
    is rendered at the DPI that fits. Raises :class:`InvalidDocumentError` for a missing or
    unreadable file and for a page number outside the document.
    """
    p = Path(path)
    numbers = list(pages) if pages is not None else range(1, pdf_page_count(p) + 1)
    yield from iter_page_images((PageRef(p, n, doc_id=doc_id or "") for n in numbers), dpi=dpi, max_pixels=max_pixels)


def iter_image_folder(folder: str | os.PathLike[str], *, doc_id: str | None = None) -> Iterator[PageImage]:
    """The image files of ``folder`` (sorted by name) as the pages of ONE document, for a
    document scanned page by page into a folder: page ids ``"<doc>#<n>"``, ``doc_id``
    defaulting to the folder name. (:func:`expand_sources` instead makes each image a page of
    its own.) An undecodable file raises :class:`InvalidDocumentError` naming it.
    """
    root = Path(folder)
    files = sorted(f for f in root.iterdir() if f.suffix.lower() in PAGE_IMAGE_SUFFIXES)
    if not files:
        raise InvalidDocumentError(f"{str(root)!r} holds no page images ({', '.join(sorted(PAGE_IMAGE_SUFFIXES))})",
                                   input_name=str(root))
    for number, f in enumerate(files, start=1):
        yield PageImage(doc_id or root.name, number, read_image(f), source=str(f), extra={"file": f.name})


def read_image(path: Path, *, max_pixels: int = MAX_PAGE_PIXELS, max_side: int = MAX_PAGE_SIDE) -> Any:
    """An image file as an RGB PIL image; raises :class:`InvalidDocumentError` naming an
    unreadable one, or one over ``max_pixels`` or ``max_side`` (the limits of a rendered PDF
    page), checked from its header before any pixel is decoded: a decompression bomb of a few
    KB is refused without allocating its gigapixels."""
    from PIL import Image

    name = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels or max(w, h) > max_side:
                    raise InvalidDocumentError(
                        f"{name!r} is {w}x{h} = {w * h:,} pixels; a page image may have at most {max_pixels:,} "
                        f"pixels and {max_side:,} a side (scan at a lower resolution)", input_name=name)
                return upright_rgb(im)  # EXIF orientation, 16-bit scans scaled, transparency on white
    except InvalidDocumentError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBomb*... for bad files
        raise InvalidDocumentError(f"{name!r} is not a readable image: {exc}", input_name=name) from exc


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
