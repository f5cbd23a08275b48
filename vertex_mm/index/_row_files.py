"""The files of a flat or FAISS index: ``vectors.npy`` and ``items.jsonl``, in row order.

``vectors.npy`` is ``(count, dimension)`` float32 with L2-normalised rows, memory-mapped on
load; ``items.jsonl`` holds one ``{"id": ..., "metadata": {...}}`` line per row. Both are
written through :func:`vertex_mm.index.persist.write_directory` (atomic, checksummed).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .._jsonl import json_line
from ._folder import PinnedFolder, load_npy
from ._store import RowStore
from .errors import IndexCorruptedError
from .manifest import Manifest

__all__ = ["ITEMS_NAME", "VECTORS_NAME", "read_rows", "write_rows"]

VECTORS_NAME = "vectors.npy"
ITEMS_NAME = "items.jsonl"
_COPY_ROWS = 65536


def write_rows(directory: Path, store: RowStore) -> list[str]:
    """Write ``store`` (already compacted) into ``directory``; returns the file names."""
    _write_vectors(directory / VECTORS_NAME, store.vectors, store.dimension)
    _write_items(directory / ITEMS_NAME, store)
    return [VECTORS_NAME, ITEMS_NAME]


def read_rows(folder: PinnedFolder, manifest: Manifest, *, mmap: bool) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Vectors (memory-mapped when asked), ids and metadata from the files ``folder`` opened
    and verified, each checked against the manifest."""
    vpath = folder.shown(VECTORS_NAME)
    try:
        vectors = load_npy(folder.file(VECTORS_NAME), mmap=mmap and manifest.count > 0)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexCorruptedError(f"{vpath}: unreadable vector file ({exc})") from exc
    expected = (manifest.count, manifest.dimension)
    if vectors.shape != expected or vectors.dtype != np.float32:
        raise IndexCorruptedError(
            f"{vpath}: holds {vectors.dtype} {vectors.shape}, manifest says float32 {expected}")
    ids: list[str] = []
    metas: list[dict[str, Any]] = []
    ipath = folder.shown(ITEMS_NAME)
    text = io.TextIOWrapper(folder.file(ITEMS_NAME), encoding="utf-8")
    try:
        for lineno, line in enumerate(text, 1):
            try:
                item = json.loads(line)
                id_, meta = item["id"], item.get("metadata") or {}
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise IndexCorruptedError(f"{ipath}:{lineno}: bad item line ({exc})") from exc
            if not isinstance(id_, str) or not isinstance(meta, dict):
                raise IndexCorruptedError(f"{ipath}:{lineno}: id must be a string and metadata an object")
            ids.append(id_)
            metas.append(meta)
    except UnicodeDecodeError as exc:
        raise IndexCorruptedError(f"{ipath}: not UTF-8 text ({exc})") from exc
    finally:
        text.detach()  # the folder closes the file itself
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


def _write_items(path: Path, store: RowStore) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in range(store.n_rows):
            line = {"id": store.id_at(row), "metadata": store.metadata_at(row)}
            f.write(json_line(line, separators=(",", ":")) + "\n")
