"""Writing and reading an index directory (layout in :mod:`vertex_mm.index.manifest`).

Saves are atomic: everything is written into a hidden sibling directory, fsync'd, and swapped
in with renames, so a crash leaves either the old index or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ._store import RowStore
from .errors import IndexCorruptedError
from .manifest import MANIFEST_NAME, Manifest, file_record

__all__ = ["read_rows", "write_index", "VECTORS_NAME", "ITEMS_NAME"]

VECTORS_NAME = "vectors.npy"
ITEMS_NAME = "items.jsonl"
_COPY_ROWS = 65536


def write_index(path: Path, manifest: Manifest, store: RowStore, save_extra: Callable[[Path], list[str]]) -> None:
    """Write ``store`` (already compacted) and the backend's files, then swap into ``path``."""
    if path.exists() and not (path / MANIFEST_NAME).is_file() and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not a vertex-mm index; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_vectors(tmp / VECTORS_NAME, store.vectors, store.dimension)
        _write_items(tmp / ITEMS_NAME, store)
        names = [VECTORS_NAME, ITEMS_NAME, *save_extra(tmp)]
        files = {name: file_record(tmp / name) for name in names}
        replace(manifest, files=files).write(tmp)
        _fsync_dir(tmp)
        _swap(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_rows(path: Path, manifest: Manifest, *, mmap: bool) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Vectors (memory-mapped when asked), ids and metadata, each checked against the manifest."""
    vpath = path / VECTORS_NAME
    try:
        vectors = np.load(vpath, mmap_mode="r" if mmap and manifest.count else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexCorruptedError(f"{vpath}: unreadable vector file ({exc})") from exc
    expected = (manifest.count, manifest.dimension)
    if vectors.shape != expected or vectors.dtype != np.float32:
        raise IndexCorruptedError(
            f"{vpath}: holds {vectors.dtype} {vectors.shape}, manifest says float32 {expected}")
    ids: list[str] = []
    metas: list[dict[str, Any]] = []
    ipath = path / ITEMS_NAME
    with open(ipath, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                item = json.loads(line)
                id_, meta = item["id"], item.get("metadata") or {}
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise IndexCorruptedError(f"{ipath}:{lineno}: bad item line ({exc})") from exc
            if not isinstance(id_, str) or not isinstance(meta, dict):
                raise IndexCorruptedError(f"{ipath}:{lineno}: id must be a string and metadata an object")
            ids.append(id_)
            metas.append(meta)
    if len(ids) != manifest.count:
        raise IndexCorruptedError(f"{ipath}: {len(ids)} items, manifest says {manifest.count}")
    if len(set(ids)) != len(ids):
        raise IndexCorruptedError(f"{ipath}: duplicate ids")
    return vectors, ids, metas


def _write_vectors(path: Path, vectors: np.ndarray, dimension: int) -> None:
    n = vectors.shape[0]
    if n == 0:
        np.save(path, np.empty((0, dimension), dtype=np.float32))
        return
    # Stream through a writable map: a large (possibly memory-mapped) matrix is never copied whole.
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dimension))
    for start in range(0, n, _COPY_ROWS):
        out[start : start + _COPY_ROWS] = vectors[start : start + _COPY_ROWS]
    out.flush()
    del out
    _fsync_file(path)


def _write_items(path: Path, store: RowStore) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in range(store.n_rows):
            line = {"id": store.id_at(row), "metadata": store.metadata_at(row)}
            f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _swap(tmp: Path, path: Path) -> None:
    if not path.exists():
        os.rename(tmp, path)
        return
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(path.parent)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync_file(path)
    except OSError:  # some filesystems refuse fsync on directories
        pass
