"""The manifest of a saved index of any kind, and the checks that make a damaged index fail loudly.

Every index vertex-mm saves is one directory with a ``manifest.json``, whatever its ``kind``::

    my-index/
        manifest.json     written last: format, version, kind, space, dimension, count, files
                          (size + SHA-256 of each), and the kind's own settings under "config"
        ...               the kind's files (paths relative to the directory)

The kinds: ``flat`` and ``faiss`` (:class:`~vertex_mm.index.BaseIndex`: ``vectors.npy``,
``items.jsonl``, ``faiss.index``), ``multivector``
(:class:`~vertex_mm.index.MultiVectorIndex`: ``seg-NNNNNN/`` segments) and ``ocr-fused`` (the
local backend's OCR-assisted page retriever). :func:`vertex_mm.index.load_index` opens any of
them by this field.

Loading checks every file named in the manifest: present, of the recorded size, and (unless
``verify=False``) of the recorded SHA-256. A truncated copy, a half-finished write or a
flipped bit raises :class:`~vertex_mm.index.errors.IndexCorruptedError` instead of returning
wrong answers. Writing is in :mod:`vertex_mm.index.persist`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from .errors import IndexCorruptedError, IndexNotFoundError, IndexVersionError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INT16_SCREEN_VERSION",
    "WRITTEN_VERSION",
    "MANIFEST_NAME",
    "FileRecord",
    "Manifest",
    "TEMP_NAME",
    "check_file_name",
    "file_record",
    "locate_index",
]

FORMAT_NAME = "vertex-mm-index"
#: The newest format this code reads. 2 added ``kind`` (version 1 said ``backend``, and only flat
#: and FAISS indexes had it). 3 is 2's layout for an index that readers of 2 would misread: an
#: ``ocr-fused`` index of text-signal recipe 2 or later (they rebuilt it with recipe 1 and searched
#: it differently); readers of 2 refuse it ("upgrade vertex-mm"). 4 is the same layout for a
#: ``multivector`` index whose segments hold int16 screened copies (readers of 3 took those files
#: for corruption; they refuse 4). Every other index is written as :data:`WRITTEN_VERSION`, so
#: that they still read it.
FORMAT_VERSION = 4
#: The version of a ``multivector`` index with int16 screened copies.
INT16_SCREEN_VERSION = 4
#: The version a manifest is written with unless its kind needs a newer reader.
WRITTEN_VERSION = 2
MANIFEST_NAME = "manifest.json"
_CHUNK = 8 * 1024 * 1024
# Formats of earlier releases that had their own manifest: named so the error says what to do.
_RETIRED_FORMATS = {"vertex-mm-multivector-index": "multi-vector page index"}
_RETIRED_MANIFESTS = {"fused_manifest.json": "OCR-assisted (ocr-fused) page index"}
#: Temporary siblings of an index folder NAME while it is saved (:mod:`.persist`):
#: ``.NAME.tmp-PID-XXXXXXXX`` (the new index being written; after the swap, the old one being
#: removed) and ``.NAME.old-PID-XXXXXXXX`` (the old index during a two-rename swap).
TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<what>tmp|old)-(?P<pid>[0-9]+)-[0-9a-f]{8}")
# One component of a file name in a manifest (see check_file_name).
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


@dataclass(frozen=True)
class FileRecord:
    """Size and SHA-256 of one file of a saved index."""

    bytes: int
    sha256: str


def locate_index(path: Path) -> Path:
    """The directory to read the index saved at ``path`` from: ``path`` itself, unless a save
    that swapped by two renames (where the atomic exchange is not available) was interrupted
    between them. Then ``path`` is missing and beside it lie the old index (``.NAME.old-…``)
    and the new one, complete once its manifest is written (``.NAME.tmp-…``): the new one is
    returned, or the old one when the new one is not complete. The next save puts it back."""
    if path.exists() or not path.parent.is_dir():
        return path
    old: list[tuple[str, Path]] = []
    new: list[tuple[str, Path]] = []
    for entry in path.parent.iterdir():
        m = TEMP_NAME.fullmatch(entry.name)
        if m and m["name"] == path.name and (entry / MANIFEST_NAME).is_file():
            (old if m["what"] == "old" else new).append((m["pid"], entry))
    if not old:
        return path  # no interrupted swap: nothing is missing but the index itself
    pid, previous = old[0]
    complete = [entry for p, entry in new if p == pid]  # written by the same save
    return complete[0] if complete else previous


def check_file_name(name: str, where: Path | str = MANIFEST_NAME) -> None:
    """Raise :class:`IndexCorruptedError` unless ``name`` is a file name an index writes: a
    ``file`` or ``part/file`` inside the index folder, each of letters, digits, ``.``, ``_``
    and ``-`` and not starting with a dot. No absolute path, no ``..``, no other separator:
    a manifest, even a doctored one, can never make vertex-mm read or remove another place."""
    parts = name.split("/") if isinstance(name, str) else []
    if not 1 <= len(parts) <= 2 or not all(_NAME_PART.fullmatch(part) for part in parts):
        raise IndexCorruptedError(f"{where}: file name {name!r} is not a file of the index folder "
                                  "('file' or 'part/file'); refusing a name that could leave it")


def file_record(path: Path) -> FileRecord:
    """Hash a file in chunks (a large ``vectors.npy`` never sits in memory twice)."""
    with open(path, "rb") as f:
        return _hash(f)


def _hash(f: IO[bytes]) -> FileRecord:
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return FileRecord(size, h.hexdigest())


@dataclass(frozen=True)
class Manifest:
    """What a saved index claims to hold; checked against the files on load.

    ``space`` and ``dimension`` describe the vectors of a single-space kind; a kind that mixes
    models (``ocr-fused``) leaves them empty and records its parts in ``config``.
    """

    kind: str
    space: str
    dimension: int
    count: int
    files: dict[str, FileRecord]
    config: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = WRITTEN_VERSION
    dtype: str = "float32"
    normalized: bool = True
    created_at: str = ""
    created_by: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = {name: asdict(rec) for name, rec in sorted(self.files.items())}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def with_files(self, files: dict[str, FileRecord]) -> Manifest:
        return replace(self, files=files)

    def stamped(self) -> Manifest:
        """This manifest with its creation time and writer filled in (kept when already set)."""
        if self.created_at:
            return self
        from .. import __version__

        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        return replace(self, created_at=now, created_by=f"vertex-mm {__version__}")

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """Parse and sanity-check ``manifest.json`` (not yet the files it names)."""
        path = directory / MANIFEST_NAME
        if not directory.is_dir():
            raise IndexNotFoundError(f"{directory}: no such index directory")
        if not path.is_file():
            for name, what in _RETIRED_MANIFESTS.items():
                if (directory / name).is_file():
                    raise IndexVersionError(f"{directory}: an {what} in the format of an earlier vertex-mm; "
                                            "index the documents again")
            raise IndexCorruptedError(
                f"{directory}: no {MANIFEST_NAME}; this is not a saved vertex-mm index, or its save did not finish")
        return cls.parse(path.read_bytes(), path)

    @classmethod
    def parse(cls, raw: bytes, path: Path) -> Manifest:
        """Parse and sanity-check the bytes of the manifest at ``path`` (named in errors)."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise IndexCorruptedError(f"{path}: unreadable manifest ({exc!r})") from exc
        if isinstance(data, dict) and isinstance(data.get("format"), str) and data["format"] in _RETIRED_FORMATS:
            what = _RETIRED_FORMATS[data["format"]]
            raise IndexVersionError(f"{path.parent}: a {what} in the format of an earlier vertex-mm; index the documents again")
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
                kind=str(data["kind"] if version >= 2 else data["backend"]),
                space=str(data.get("space", "")),
                dimension=int(data.get("dimension", 0)),
                count=int(data["count"]),
                files=files,
                config=dict(data.get("config") or {}),
                format_version=version,
                dtype=str(data.get("dtype", "float32")),
                normalized=bool(data.get("normalized", True)),
                created_at=str(data.get("created_at", "")),
                created_by=str(data.get("created_by", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise IndexCorruptedError(f"{path}: manifest is missing or mangles a field ({exc!r})") from exc
        for name in manifest.files:
            check_file_name(name, path)
        if manifest.count < 0 or manifest.dimension < 0:
            raise IndexCorruptedError(f"{path}: impossible count {manifest.count} or dimension {manifest.dimension}")
        return manifest

    def verify_files(self, directory: Path, *, checksums: bool = True) -> None:
        """Raise :class:`IndexCorruptedError` unless every file is present, of the recorded
        size and (with ``checksums``) of the recorded SHA-256."""
        for name in self.files:
            check_file_name(name, directory / MANIFEST_NAME)
            path = directory / name
            if not path.is_file():
                raise IndexCorruptedError(f"{path}: missing (the manifest lists it)")
            with open(path, "rb") as f:
                self.verify_file(name, f, path, checksums=checksums)

    def verify_file(self, name: str, f: IO[bytes], path: Path, *, checksums: bool = True) -> None:
        """Check the open file ``f``, listed as ``name`` (and shown as ``path``), against its
        record. Checking the handle that is then read, not the name, leaves no moment in which
        another file could take the name."""
        rec = self.files[name]
        size = os.fstat(f.fileno()).st_size
        if size != rec.bytes:
            state = "truncated" if size < rec.bytes else "longer than recorded"
            raise IndexCorruptedError(f"{path}: {state}: {size:,} bytes, manifest says {rec.bytes:,}")
        if checksums:
            f.seek(0)
            got = _hash(f).sha256
            if got != rec.sha256:
                raise IndexCorruptedError(
                    f"{path}: SHA-256 {got[:16]}… does not match the manifest's {rec.sha256[:16]}…; "
                    "the file was altered or damaged after it was saved")
