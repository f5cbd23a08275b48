"""Segments of a multi-vector index: immutable folders of pages, memory-mapped on open.

::

    my-pages/
        manifest.json            kind "multivector"; config: dtype, pool factor, binary, the
                                 segments with their deleted rows, the next segment number
        seg-000001/
            tokens.npy           (tokens, dimension) float16 or float32
            offsets.npy          (pages + 1,) int64: page i is tokens[offsets[i]:offsets[i+1]]
            codes.npy            (tokens, dimension/64) uint64 sign bits, when the index is binarised
            pages.jsonl          one {"doc_id", "page_number", "page_id", "metadata"} line per page
            screen-bf16.npy      optional pair: the bfloat16 copy and per-page norms that
            screen-norms.npy     search(mode="screened") screens with (:mod:`._screen`), or
            screen-int16.npy     the int16 copy and its per-page scales and norms, where
            screen-int16-stats.npy   int16 is the machine's screen (screen_kind)
            fde-muvera-*.npy     optional: MUVERA encodings of the pages (:mod:`._fde`)

A segment is written once (:func:`vertex_mm.index.persist.write_subdirectory`); only then does a
new manifest name it, with every file's size and SHA-256 (checked on open).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..late_interaction.binary import BinaryPages
from ..late_interaction.packed import PackedPages
from ._folder import PinnedFolder
from .errors import IndexCorruptedError

__all__ = [
    "SEGMENT_FILES", "SEGMENT_NAME", "Segment", "SegmentRecord", "check_segment_name", "load_segment", "write_segment_files",
]

TOKENS, OFFSETS, CODES, ROWS = "tokens.npy", "offsets.npy", "codes.npy", "pages.jsonl"
#: The files of a segment (``codes.npy`` only when the index is binarised).
SEGMENT_FILES = (TOKENS, OFFSETS, CODES, ROWS)
#: Segment folder names: ``seg-`` and a number, nothing that could name another place.
SEGMENT_NAME = re.compile(r"seg-[0-9]{6,12}")


@dataclass
class SegmentRecord:
    """A segment as the manifest's config records it."""

    name: str
    pages: int
    tokens: int
    deleted: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentRecord:
        return cls(str(data["name"]), int(data["pages"]), int(data["tokens"]), [int(i) for i in data.get("deleted", [])])


@dataclass
class Segment:
    """A loaded segment (or the pages not yet saved): arrays plus one row per page."""

    record: SegmentRecord
    pages: PackedPages
    binary: BinaryPages | None
    rows: list[dict[str, Any]]

    @property
    def live(self) -> np.ndarray:
        mask = np.ones(len(self.rows), dtype=bool)
        if self.record.deleted:
            mask[np.asarray(self.record.deleted, dtype=np.int64)] = False
        return mask


def write_segment_files(folder: Path, pages: PackedPages, rows: list[dict[str, Any]], binary: bool) -> list[str]:
    """Write one segment's files into ``folder``; returns their names."""
    np.save(folder / TOKENS, pages.tokens)
    np.save(folder / OFFSETS, pages.offsets.astype(np.int64))
    names = [TOKENS, OFFSETS]
    if binary:
        np.save(folder / CODES, BinaryPages.from_pages(pages).codes)
        names.append(CODES)
    with open(folder / ROWS, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    return [*names, ROWS]


def load_segment(folder: PinnedFolder, record: SegmentRecord, dimension: int, *, binary: bool,
                 dtype: str | None = None) -> Segment:
    """Memory-map a segment the manifest names, from the handles ``folder`` opened and checked
    against the manifest (:meth:`~._folder.PinnedFolder.open_verified`): the files of the
    version whose manifest was read, even if a save has since put another at the path.

    Index folders are trusted input, but a damaged or doctored one must fail with
    :class:`IndexCorruptedError`, never crash the process: the compiled Hamming kernel reads
    codes by offset without bounds checks. So every array is checked here, once, against what
    the manifest implies: ``offsets`` int64 ``(pages + 1,)`` rising from 0 to the token count,
    ``tokens`` ``(tokens, dimension)`` of the index's dtype, ``codes`` ``(tokens, dimension/64)``
    uint64, one page row per page. Searches then run without per-query checks.
    """
    check_segment_name(record.name)
    where = folder.shown(record.name)
    try:
        tokens = folder.array(f"{record.name}/{TOKENS}")
        offsets = folder.array(f"{record.name}/{OFFSETS}", mmap=False)
        codes_arr = folder.array(f"{record.name}/{CODES}") if binary else None
        text = folder.file(f"{record.name}/{ROWS}").read().decode("utf-8")
    except (ValueError, OSError, EOFError) as exc:  # UnicodeDecodeError is a ValueError
        raise IndexCorruptedError(f"segment {where} cannot be read: {exc}") from exc
    _check_arrays(where, record, dimension, dtype, tokens, offsets, codes_arr)
    try:
        packed = PackedPages(tokens, offsets)
        packed.validate()
        codes = BinaryPages(codes_arr, offsets, dimension) if codes_arr is not None else None
    except ValueError as exc:
        raise IndexCorruptedError(f"segment {where}: {exc}") from exc
    rows = _read_rows(where / ROWS, text)
    if len(rows) != record.pages:
        raise IndexCorruptedError(f"segment {where} holds {len(rows)} page rows; the manifest says {record.pages} pages")
    return Segment(record, packed, codes, rows)


def check_segment_name(name: str) -> None:
    """Raise :class:`IndexCorruptedError` unless ``name`` is a segment folder name this index
    writes (``seg-NNNNNN``): no separators, no ``..``, nothing outside the index folder."""
    if not isinstance(name, str) or not SEGMENT_NAME.fullmatch(name):
        raise IndexCorruptedError(f"segment name {name!r} is not of the form seg-NNNNNN; refusing a path that could "
                                  "leave the index folder")


def _check_arrays(folder: Path, record: SegmentRecord, dimension: int, dtype: str | None, tokens: np.ndarray,
                  offsets: np.ndarray, codes: np.ndarray | None) -> None:
    floats = (np.dtype(np.float16), np.dtype(np.float32))
    want = (np.dtype(dtype),) if dtype is not None else floats
    problems = []
    if tokens.ndim != 2 or tokens.shape != (record.tokens, dimension) or not tokens.flags.c_contiguous:
        problems.append(f"tokens.npy is {tokens.shape}, expected ({record.tokens}, {dimension}) in C order")
    if tokens.dtype not in floats or tokens.dtype not in want:
        problems.append(f"tokens.npy is {tokens.dtype}, expected {' or '.join(d.name for d in want)}")
    if offsets.dtype != np.dtype(np.int64) or offsets.shape != (record.pages + 1,):
        problems.append(f"offsets.npy is {offsets.dtype} {offsets.shape}, expected int64 ({record.pages + 1},)")
    if codes is not None:
        words = -(-dimension // 64)
        if codes.dtype != np.dtype(np.uint64) or codes.shape != (record.tokens, words) or not codes.flags.c_contiguous:
            problems.append(f"codes.npy is {codes.dtype} {codes.shape}, expected uint64 ({record.tokens}, {words}) in C order")
    if problems:
        raise IndexCorruptedError(f"segment {folder} disagrees with the manifest: {'; '.join(problems)}")


def _read_rows(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise IndexCorruptedError(f"{path}:{lineno}: unreadable page row ({exc})") from exc
        if not (isinstance(row, dict) and isinstance(row.get("doc_id"), str) and isinstance(row.get("page_id", ""), str)
                and isinstance(row.get("page_number"), int) and not isinstance(row.get("page_number"), bool)
                and isinstance(row.get("metadata", {}), dict)):
            raise IndexCorruptedError(f"{path}:{lineno}: a page row needs a string doc_id and page_id, an integer "
                                      "page_number and an object metadata")
        rows.append(row)
    return rows
