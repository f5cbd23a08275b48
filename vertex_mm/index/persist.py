"""Writing index directories, for every index kind: atomic, fsync'd, checksummed.

Two ways to change an index on disk, both crash-safe:

* :func:`write_directory` writes a whole index into a hidden sibling directory, records every
  file's size and SHA-256 in the manifest, fsyncs, and swaps it in with renames: a crash leaves
  either the old index or the new one, never a mix (flat, FAISS and OCR-assisted indexes, and
  a multi-vector index saved to a new place).
* :func:`write_subdirectory` adds an immutable part (a multi-vector segment) under an existing
  index, and :func:`write_manifest` then replaces the manifest atomically (write, fsync,
  rename): until the new manifest names the part, readers do not see it.

The layout and the checks on load are in :mod:`vertex_mm.index.manifest`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from .manifest import MANIFEST_NAME, FileRecord, Manifest, file_record

__all__ = ["fsync_file", "write_directory", "write_manifest", "write_subdirectory"]

#: Writes an index's files into the given directory and returns their paths relative to it.
FileWriter = Callable[[Path], list[str]]


def write_directory(path: Path, manifest: Manifest, write_files: FileWriter) -> Manifest:
    """Write a complete index at ``path`` (replacing any index there); returns the manifest
    as written, with its file records."""
    if path.exists() and not (path / MANIFEST_NAME).is_file() and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not a vertex-mm index; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        written = write_manifest(tmp, manifest.with_files(_records(tmp, write_files(tmp))))
        _swap(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def write_subdirectory(root: Path, name: str, write_files: FileWriter) -> dict[str, FileRecord]:
    """Write a new part ``root/name`` whole or not at all; returns its file records keyed by
    path relative to ``root`` (``name/file``), for the manifest."""
    tmp = root / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        records = _records(tmp, write_files(tmp))
        os.replace(tmp, root / name)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {f"{name}/{rel}": rec for rel, rec in records.items()}


def write_manifest(directory: Path, manifest: Manifest) -> Manifest:
    """Replace ``manifest.json`` atomically (its presence marks a complete index); returns the
    manifest as written (stamped with its creation time when it had none)."""
    stamped = manifest.stamped()
    tmp = directory / f".{MANIFEST_NAME}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(stamped.to_json())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST_NAME)
    _fsync_dir(directory)
    return stamped


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _records(directory: Path, names: list[str]) -> dict[str, FileRecord]:
    """fsync each written file and record its size and SHA-256."""
    records = {}
    for name in names:
        fsync_file(directory / name)
        records[name] = file_record(directory / name)
    _fsync_dir(directory)
    return records


def _swap(tmp: Path, path: Path) -> None:
    if not path.exists():
        os.rename(tmp, path)
        _fsync_dir(path.parent)
        return
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fsync_file(path)
    except OSError:  # some filesystems refuse fsync on directories
        pass
