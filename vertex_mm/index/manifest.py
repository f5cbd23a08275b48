"""The manifest of a saved index, and the checks that make a damaged index fail loudly.

A saved index is one directory::

    my-index/
        manifest.json     written last: format, version, space, dimension, count, file checksums
        vectors.npy       (count, dimension) float32, L2-normalised rows, memory-mapped on load
        items.jsonl       one {"id": ..., "metadata": {...}} line per row, in row order
        faiss.index       only for the FAISS backend

Loading checks every file named in the manifest: present, of the recorded size, and (unless
``verify=False``) of the recorded SHA-256. A truncated copy, a half-finished write or a
flipped bit raises :class:`~vertex_mm.index.errors.IndexCorruptedError` instead of returning
wrong neighbours.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import IndexCorruptedError, IndexVersionError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST_NAME", "FileRecord", "Manifest", "file_record"]

FORMAT_NAME = "vertex-mm-index"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileRecord:
    """Size and SHA-256 of one file of a saved index."""

    bytes: int
    sha256: str


def file_record(path: Path) -> FileRecord:
    """Hash a file in chunks (a large ``vectors.npy`` never sits in memory twice)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return FileRecord(size, h.hexdigest())


@dataclass(frozen=True)
class Manifest:
    """What a saved index claims to hold; checked against the files on load."""

    backend: str
    space: str
    dimension: int
    count: int
    files: dict[str, FileRecord]
    config: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    dtype: str = "float32"
    normalized: bool = True
    created_at: str = ""
    created_by: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = {name: asdict(rec) for name, rec in sorted(self.files.items())}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def write(self, directory: Path) -> None:
        """Write ``manifest.json`` and fsync it: its presence marks a complete index."""
        stamped = self if self.created_at else _stamped(self)
        path = directory / MANIFEST_NAME
        with open(path, "w", encoding="utf-8") as f:
            f.write(stamped.to_json())
            f.flush()
            os.fsync(f.fileno())

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        """Parse and sanity-check ``manifest.json`` (not yet the files it names)."""
        path = directory / MANIFEST_NAME
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such index directory")
        if not path.is_file():
            raise IndexCorruptedError(
                f"{directory}: no {MANIFEST_NAME}; this is not a saved vertex-mm index, or its save did not finish")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexCorruptedError(f"{path}: unreadable manifest ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise IndexCorruptedError(f"{path}: not a {FORMAT_NAME} manifest")
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise IndexCorruptedError(f"{path}: bad format_version {version!r}")
        if version > FORMAT_VERSION:
            raise IndexVersionError(
                f"{path}: index format version {version} is newer than this vertex-mm reads "
                f"({FORMAT_VERSION}); upgrade vertex-mm")
        try:
            files = {str(k): FileRecord(int(v["bytes"]), str(v["sha256"])) for k, v in data["files"].items()}
            manifest = cls(
                backend=str(data["backend"]),
                space=str(data["space"]),
                dimension=int(data["dimension"]),
                count=int(data["count"]),
                files=files,
                config=dict(data.get("config") or {}),
                format_version=version,
                dtype=str(data.get("dtype", "float32")),
                normalized=bool(data.get("normalized", True)),
                created_at=str(data.get("created_at", "")),
                created_by=str(data.get("created_by", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IndexCorruptedError(f"{path}: manifest is missing or mangles a field ({exc!r})") from exc
        if manifest.count < 0 or manifest.dimension < 1:
            raise IndexCorruptedError(f"{path}: impossible count {manifest.count} or dimension {manifest.dimension}")
        return manifest

    def verify_files(self, directory: Path, *, checksums: bool = True) -> None:
        """Raise :class:`IndexCorruptedError` unless every file is present, of the recorded
        size and (with ``checksums``) of the recorded SHA-256."""
        for name, rec in self.files.items():
            path = directory / name
            if Path(name).name != name:
                raise IndexCorruptedError(f"{directory / MANIFEST_NAME}: file name {name!r} leaves the index directory")
            if not path.is_file():
                raise IndexCorruptedError(f"{path}: missing (the manifest lists it)")
            size = path.stat().st_size
            if size != rec.bytes:
                state = "truncated" if size < rec.bytes else "longer than recorded"
                raise IndexCorruptedError(f"{path}: {state}: {size:,} bytes, manifest says {rec.bytes:,}")
            if checksums:
                got = file_record(path).sha256
                if got != rec.sha256:
                    raise IndexCorruptedError(
                        f"{path}: SHA-256 {got[:16]}… does not match the manifest's {rec.sha256[:16]}…; "
                        "the file was altered or damaged after it was saved")


def _stamped(m: Manifest) -> Manifest:
    from dataclasses import replace

    from .. import __version__

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    return replace(m, created_at=now, created_by=f"vertex-mm {__version__}")
