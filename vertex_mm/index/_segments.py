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

A segment is written once (:func:`vertex_mm.index.persist.write_subdirectory`); only then does a
new manifest name it, with every file's size and SHA-256 (checked on open).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..late_interaction.binary import BinaryPages
from ..late_interaction.packed import PackedPages
from .errors import IndexCorruptedError

__all__ = ["Segment", "SegmentRecord", "load_segment", "write_segment_files"]

TOKENS, OFFSETS, CODES, ROWS = "tokens.npy", "offsets.npy", "codes.npy", "pages.jsonl"


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


def load_segment(root: Path, record: SegmentRecord, dimension: int, *, binary: bool) -> Segment:
    """Memory-map a segment the manifest names (its files were verified against the manifest)."""
    folder = root / record.name
    try:
        tokens = np.load(folder / TOKENS, mmap_mode="r")
        offsets = np.load(folder / OFFSETS)
        packed = PackedPages(tokens, offsets)
        codes = BinaryPages(np.load(folder / CODES, mmap_mode="r"), offsets, dimension) if binary else None
        rows = [json.loads(line) for line in (folder / ROWS).read_text(encoding="utf-8").splitlines() if line]
    except (ValueError, OSError) as exc:
        raise IndexCorruptedError(f"segment {folder} cannot be read: {exc}") from exc
    if len(rows) != len(packed) or packed.dim != dimension or len(rows) != record.pages:
        raise IndexCorruptedError(
            f"segment {folder} holds {len(packed)} pages of dimension {packed.dim} and {len(rows)} page rows; "
            f"the manifest says {record.pages} pages of dimension {dimension}")
    return Segment(record, packed, codes, rows)
