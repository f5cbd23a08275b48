"""Rows of an index: vectors, ids and metadata in row order, with tombstones for deletes.

Rows are only appended or tombstoned, never moved, so row numbers stay valid for an ANN
structure built over them; :meth:`RowStore.compact` drops tombstones (and renumbers) when the
index is saved. A store loaded from disk holds a read-only memory map and copies it into
memory on the first write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["RowStore"]


class RowStore:
    def __init__(
        self,
        dimension: int,
        vectors: np.ndarray | None = None,
        ids: Sequence[str] = (),
        metadata: Sequence[dict[str, Any] | None] = (),
    ) -> None:
        self.dimension = dimension
        self._vec = vectors if vectors is not None else np.empty((0, dimension), dtype=np.float32)
        self._n = len(ids)
        self._ids: list[str | None] = list(ids)
        self._meta: list[dict[str, Any] | None] = [m or None for m in metadata]
        self._row: dict[str, int] = {i: r for r, i in enumerate(self._ids)}  # type: ignore[misc]
        self._alive = np.ones(self._n, dtype=bool)
        self._deleted = 0
        #: Bumped by every change, so callers can cache things derived from the rows.
        self.version = 0

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Live rows."""
        return self._n - self._deleted

    @property
    def n_rows(self) -> int:
        """Rows including tombstones (the row-number range)."""
        return self._n

    @property
    def vectors(self) -> np.ndarray:
        return self._vec[: self._n]

    @property
    def alive(self) -> np.ndarray | None:
        """Boolean mask of live rows, or None when nothing was deleted (the fast path)."""
        return self._alive[: self._n] if self._deleted else None

    @property
    def deleted(self) -> int:
        return self._deleted

    @property
    def is_memory_mapped(self) -> bool:
        return isinstance(self._vec, np.memmap)

    def row_of(self, id_: str) -> int | None:
        return self._row.get(id_)

    def id_at(self, row: int) -> str:
        id_ = self._ids[row]
        assert id_ is not None, f"row {row} is deleted"
        return id_

    def metadata_at(self, row: int) -> dict[str, Any]:
        # Tombstones and rows without metadata hold None; hand out a fresh dict for those.
        return self._meta[row] or {}

    def live_ids(self) -> list[str]:
        return [i for i in self._ids if i is not None]

    def live_metadata(self) -> list[dict[str, Any]]:
        """Metadata of every row in row order ({} for tombstones, which masks exclude anyway)."""
        return [m if m is not None else {} for m in self._meta]

    # -- writing -------------------------------------------------------------------------------
    def append(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[dict[str, Any] | None]) -> np.ndarray:
        """Append rows; returns their row numbers."""
        m = len(ids)
        self._reserve(self._n + m)
        rows = np.arange(self._n, self._n + m)
        self._vec[self._n : self._n + m] = vectors
        self._alive[self._n : self._n + m] = True
        for r, id_ in zip(rows.tolist(), ids):
            self._row[id_] = r
        self._ids.extend(ids)
        self._meta.extend(metadata)
        self._n += m
        self.version += 1
        return rows

    def overwrite(self, row: int, vector: np.ndarray, metadata: dict[str, Any] | None) -> None:
        """Replace one live row in place (row numbers unchanged)."""
        self._make_writable()
        self._vec[row] = vector
        self._meta[row] = metadata
        self.version += 1

    def overwrite_metadata(self, row: int, metadata: dict[str, Any] | None) -> None:
        """Replace one live row's metadata (its vector unchanged)."""
        self._meta[row] = metadata
        self.version += 1

    def tombstone(self, rows: Sequence[int]) -> None:
        if not rows:
            return
        self._alive_writable()
        for r in rows:
            id_ = self._ids[r]
            if id_ is None:
                continue
            del self._row[id_]
            self._ids[r] = None
            self._meta[r] = None
            self._alive[r] = False
            self._deleted += 1
        self.version += 1

    def compact(self) -> np.ndarray | None:
        """Drop tombstones; returns the old row number of each new row (None if nothing moved)."""
        if not self._deleted:
            return None
        keep = np.flatnonzero(self._alive[: self._n])
        self._vec = self._vec[keep]  # a fresh in-memory array
        self._ids = [self._ids[r] for r in keep.tolist()]
        self._meta = [self._meta[r] for r in keep.tolist()]
        self._n = len(keep)
        self._row = {i: r for r, i in enumerate(self._ids)}  # type: ignore[misc]
        self._alive = np.ones(self._n, dtype=bool)
        self._deleted = 0
        self.version += 1
        return keep

    # -- capacity ------------------------------------------------------------------------------
    def _reserve(self, needed: int) -> None:
        cap = self._vec.shape[0]
        if needed <= cap and not self.is_memory_mapped:
            self._alive_capacity(cap)
            return
        new_cap = max(needed, int(cap * 1.5) + 64) if needed > cap else cap
        grown = np.empty((new_cap, self.dimension), dtype=np.float32)
        grown[: self._n] = self._vec[: self._n]
        self._vec = grown
        self._alive_capacity(new_cap)

    def _alive_capacity(self, cap: int) -> None:
        if self._alive.shape[0] < cap:
            alive = np.zeros(cap, dtype=bool)
            alive[: self._n] = self._alive[: self._n]
            self._alive = alive

    def _alive_writable(self) -> None:
        self._alive_capacity(self._vec.shape[0])

    def _make_writable(self) -> None:
        if self.is_memory_mapped:
            self._vec = np.array(self._vec[: self._n], dtype=np.float32)
