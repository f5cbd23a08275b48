"""Which pages to index: PDF pages and page images, each with a stable id.

A PDF with one page keeps its file stem as id; page ``n`` of a longer PDF becomes
``<stem>-p<n>`` (zero-padded to two digits or more). An image file is one page.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass

from vertex_mm.errors import InputError

__all__ = ["PageRef", "IMAGE_SUFFIXES", "expand_paths", "pdf_page_count"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


@dataclass(frozen=True)
class PageRef:
    """One page: an image file, or page ``page_index`` (0-based) of a PDF."""

    page_id: str
    path: pathlib.Path
    page_index: int = 0

    @property
    def is_pdf(self) -> bool:
        return self.path.suffix.lower() == ".pdf"


def pdf_page_count(path: str | os.PathLike[str]) -> int:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise InputError(f"{path}: not a readable PDF ({exc})", input_name=str(path)) from exc
    try:
        return len(doc)
    finally:
        doc.close()


def page_id_for(stem: str, page_number: int, n_pages: int) -> str:
    """``stem`` for a one-page PDF, else ``stem-pNN`` with 1-based ``page_number``."""
    if n_pages == 1:
        return stem
    width = max(2, len(str(n_pages)))
    return f"{stem}-p{page_number:0{width}d}"


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[PageRef]:
    """PageRefs for files and folders (searched recursively for PDFs and images, sorted)."""
    files: list[pathlib.Path] = []
    for p in map(pathlib.Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and (f.suffix.lower() == ".pdf" or f.suffix.lower() in IMAGE_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder", input_name=str(p))
    refs: list[PageRef] = []
    for f in files:
        suffix = f.suffix.lower()
        if suffix == ".pdf":
            n = pdf_page_count(f)
            refs += [PageRef(page_id_for(f.stem, i + 1, n), f, i) for i in range(n)]
        elif suffix in IMAGE_SUFFIXES:
            refs.append(PageRef(f.stem, f))
        else:
            raise InputError(f"{f}: not a PDF or page image (accepted: .pdf, {', '.join(sorted(IMAGE_SUFFIXES))})", input_name=str(f))
    seen: dict[str, pathlib.Path] = {}
    for r in refs:
        if r.page_id in seen and seen[r.page_id] != r.path:
            raise InputError(f"page id {r.page_id!r} comes from both {seen[r.page_id]} and {r.path}; rename one", input_name=str(r.path))
        seen[r.page_id] = r.path
    return refs
