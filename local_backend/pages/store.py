"""The folder an OCR-assisted index is saved in, on the index family's one persistence
(:mod:`vertex_mm.index.persist`): manifest of kind ``ocr-fused``, every file's size and
SHA-256, written atomically. (The retriever's ``save``/``load`` fill and read it.)

What is stored: each page's reference, words with boxes and figure regions (``pages.jsonl``),
the arrays of the components that embed (``dense.vectors.npy``, ``dense.owner.npy``,
``visual.tokens.npy``, ``visual.lengths.npy``), and in the manifest's config the components,
fusion weights and figure boost. BM25 and the layout signal are rebuilt from the stored words
on open (milliseconds per thousand pages), so the folder holds no library-specific pickles.
The models that embed queries are loaded from local files on open.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vertex_mm.index.errors import IndexCorruptedError, IndexKindError
from vertex_mm.index.manifest import WRITTEN_VERSION, Manifest, locate_index
from vertex_mm.index.persist import write_directory
from vertex_mm.pages import PageRef
from vertex_mm.pages.ingest import nfc

from .words import Box, PageText, Word

__all__ = ["KIND", "StoredIndex", "format_version", "read_index", "write_index"]

KIND = "ocr-fused"
PAGES = "pages.jsonl"


@dataclass
class StoredIndex:
    """What an OCR-assisted index folder holds: the retriever's settings (``config``), each
    page's reference and words, and the arrays of the components that embed, by component."""

    config: dict[str, Any]
    refs: list[PageRef]
    pages: list[PageText]
    arrays: dict[str, dict[str, np.ndarray]]


def write_index(path: str | os.PathLike[str], stored: StoredIndex) -> Path:
    """Write ``stored`` into the folder ``path`` (an index there is replaced whole)."""
    root = Path(path)

    def write(directory: Path) -> list[str]:
        with (directory / PAGES).open("w", encoding="utf-8") as f:
            for ref, page in zip(stored.refs, stored.pages):
                f.write(json.dumps(_page_row(ref, page)) + "\n")
        names = [PAGES]
        for component, arrays in stored.arrays.items():
            for key, array in arrays.items():
                np.save(directory / f"{component}.{key}.npy", array)
                names.append(f"{component}.{key}.npy")
        return names

    write_directory(root, Manifest(kind=KIND, space="", dimension=0, count=len(stored.refs), files={}, config=stored.config,
                                   dtype="mixed", normalized=False, format_version=format_version(stored.config)), write)
    return root


def format_version(config: dict[str, Any]) -> int:
    """The manifest version an index of these settings is written with: 3 from text-signal
    recipe 2 on, so that releases that cannot rebuild its BM25 and layout signals (they read
    format 2 and knew recipe 1 only) refuse it instead of searching it differently; 2 for
    recipe 1, which every release reads alike."""
    return 3 if config.get("text_signals", 1) >= 2 else WRITTEN_VERSION


def read_index(path: str | os.PathLike[str], *, verify: bool = True) -> StoredIndex:
    """Read a folder :func:`write_index` wrote; ``verify`` checks every file's SHA-256 (sizes
    are always checked). Raises :class:`IndexKindError` for another kind of index and
    :class:`IndexCorruptedError` for a damaged one."""
    root = locate_index(Path(path))
    manifest = Manifest.read(root)
    if manifest.kind != KIND:
        raise IndexKindError(f"{root} holds a {manifest.kind!r} index, not an {KIND} page index")
    manifest.verify_files(root, checksums=verify)
    try:
        pages = [_from_row(json.loads(line)) for line in (root / PAGES).read_text(encoding="utf-8").splitlines() if line]
        arrays: dict[str, dict[str, np.ndarray]] = {}
        for name in manifest.files:
            if name.endswith(".npy"):
                component, key, _ = name.split(".")
                arrays.setdefault(component, {})[key] = np.load(root / name, allow_pickle=False)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptedError(f"{root}: an {KIND} index file is missing or mangles a field ({exc!r})") from exc
    if len(pages) != manifest.count:
        raise IndexCorruptedError(f"{root / PAGES}: {len(pages)} pages, the manifest says {manifest.count}")
    return StoredIndex(dict(manifest.config), [ref for ref, _ in pages], [text for _, text in pages], arrays)


def _page_row(ref: PageRef, page: PageText) -> dict[str, Any]:
    return {
        "page_id": ref.page_id, "doc_id": ref.doc_id, "file": str(ref.path), "page": ref.page_number, "scan": ref.scan,
        "source": page.source,
        "words": [[w.text, w.box.x0, w.box.y0, w.box.x1, w.box.y1, w.source] for w in page.words],
        "figures": [[b.x0, b.y0, b.x1, b.y1] for b in page.figure_boxes],
    }


def _from_row(row: dict[str, Any]) -> tuple[PageRef, PageText]:
    ref = PageRef(Path(row["file"]), int(row["page"]), scan=bool(row["scan"]), doc_id=str(row["doc_id"]))
    # A ref's ids are NFC; an index written before they were holds the NFD ids of NFD file names:
    # the same page, loaded (and saved again) under its NFC id
    if ref.page_id != nfc(str(row["page_id"])):
        raise ValueError(f"page {row['page_id']!r} is stored as {ref.page_id!r}")
    words = [Word(t, Box(a, b, c, d), s) for t, a, b, c, d, s in row["words"]]
    return ref, PageText(ref.page_id, words, [Box(*f) for f in row["figures"]], row["source"])
