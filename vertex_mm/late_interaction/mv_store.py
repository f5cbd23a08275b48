"""On-disk layout of a multi-vector index: manifest and immutable segments.

::

    my-pages/
        manifest.json            written last (atomic rename): format, version, space id,
                                 dimension, dtype, pool factor, segments with file checksums,
                                 deleted rows per segment
        seg-000001/
            tokens.npy           (tokens, dim) float16 or float32, memory-mapped on open
            offsets.npy          (pages + 1,) int64: page i is tokens[offsets[i]:offsets[i+1]]
            codes.npy            (tokens, dim/64) uint64 sign bits, when the index is binarised
            pages.jsonl          one {"doc_id", "page_number", "metadata"} line per page

A segment is written once into a hidden directory, fsync'd and renamed into place; only then
does a new manifest name it. A crash therefore leaves the old index intact. Opening checks
every file the manifest names: present, of the recorded size and (with ``verify=True``) of the
recorded SHA-256, so a truncated copy or a flipped bit fails loudly instead of ranking wrongly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VertexMMError
from .binary import BinaryPages
from .packed import PackedPages

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "IndexFormatError",
    "Manifest",
    "MultiVectorIndexCorruptedError",
    "Segment",
    "SegmentRecord",
    "load_segment",
    "write_manifest",
    "write_segment",
]

FORMAT_NAME = "vertex-mm-multivector-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = 8 * 1024 * 1024


class MultiVectorIndexCorruptedError(VertexMMError):
    """Raised when an index file is missing, of the wrong size, or fails its checksum."""


class IndexFormatError(VertexMMError):
    """Raised when a directory is not a multi-vector index, or of a newer format version."""


def _sha256(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


@dataclass
class SegmentRecord:
    """A segment as the manifest records it."""

    name: str
    pages: int
    tokens: int
    files: dict[str, dict[str, Any]]
    deleted: list[int] = field(default_factory=list)


@dataclass
class Manifest:
    space: str
    dim: int
    dtype: str
    pool_factor: int
    binary: bool
    segments: list[SegmentRecord] = field(default_factory=list)
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION
    next_segment: int = 1

    @classmethod
    def read(cls, root: Path) -> "Manifest":
        path = root / MANIFEST
        if not path.is_file():
            raise IndexFormatError(f"{root} is not a multi-vector index: {MANIFEST} not found")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise MultiVectorIndexCorruptedError(f"{path} is not valid JSON: {exc}") from exc
        if data.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{root} holds a {data.get('format')!r} index, not {FORMAT_NAME!r}")
        if int(data.get("version", 0)) > FORMAT_VERSION:
            raise IndexFormatError(f"{root} has format version {data['version']}; this vertex-mm reads up to {FORMAT_VERSION}")
        data["segments"] = [SegmentRecord(**s) for s in data.get("segments", [])]
        return cls(**data)


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Atomically replace ``manifest.json`` (write, fsync, rename)."""
    tmp = root / f".{MANIFEST}.{uuid.uuid4().hex}"
    with open(tmp, "w") as f:
        json.dump(asdict(manifest), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / MANIFEST)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_segment(root: Path, name: str, pages: PackedPages, rows: list[dict[str, Any]], binary: bool) -> SegmentRecord:
    """Write a new immutable segment directory and return its manifest record."""
    tmp = root / f".{name}.{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        np.save(tmp / "tokens.npy", pages.tokens)
        np.save(tmp / "offsets.npy", pages.offsets.astype(np.int64))
        if binary:
            np.save(tmp / "codes.npy", BinaryPages.from_pages(pages).codes)
        with open(tmp / "pages.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(row, sort_keys=True) + "\n")
        files = {}
        for path in sorted(tmp.iterdir()):
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
            size, digest = _sha256(path)
            files[path.name] = {"bytes": size, "sha256": digest}
        _fsync_dir(tmp)
        os.replace(tmp, root / name)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SegmentRecord(name=name, pages=len(pages), tokens=int(pages.tokens.shape[0]), files=files)


@dataclass
class Segment:
    """A loaded segment: memory-mapped arrays plus its page rows."""

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


def load_segment(root: Path, record: SegmentRecord, dim: int, *, verify: bool) -> Segment:
    folder = root / record.name
    for fname, meta in record.files.items():
        path = folder / fname
        if not path.is_file():
            raise MultiVectorIndexCorruptedError(f"{path} is missing (named in {root / MANIFEST})")
        size = path.stat().st_size
        if size != meta["bytes"]:
            raise MultiVectorIndexCorruptedError(f"{path} has {size} bytes, the manifest says {meta['bytes']}: truncated or replaced")
        if verify and _sha256(path)[1] != meta["sha256"]:
            raise MultiVectorIndexCorruptedError(f"{path} fails its SHA-256 check: the file changed after it was written")
    try:
        tokens = np.load(folder / "tokens.npy", mmap_mode="r")
        offsets = np.load(folder / "offsets.npy")
        packed = PackedPages(tokens, offsets)
        binary = None
        if "codes.npy" in record.files:
            binary = BinaryPages(np.load(folder / "codes.npy", mmap_mode="r"), offsets, dim)
        rows = [json.loads(line) for line in (folder / "pages.jsonl").read_text().splitlines() if line]
    except (ValueError, OSError) as exc:
        raise MultiVectorIndexCorruptedError(f"segment {folder} cannot be read: {exc}") from exc
    if len(rows) != len(packed) or packed.dim != dim:
        raise MultiVectorIndexCorruptedError(
            f"segment {folder} holds {len(packed)} pages of dimension {packed.dim} but {len(rows)} page rows (index dimension {dim})"
        )
    return Segment(record, packed, binary, rows)
