"""Approximate search with FAISS (``pip install "vertex-mm[index]"``) for large collections.

``faiss_kind="hnsw"`` (default) builds a graph as rows arrive; ``"ivf"`` trains inverted lists
on the data at the first search. FAISS ids are row numbers of the shared row store, so ids,
metadata, filters and the saved format are those of every index; ``faiss.index`` is one more
file in the directory. What to expect:

- Deletes are tombstones masked at query time; saving drops them and rebuilds the structure.
- ``upsert`` of an existing id tombstones the old row and adds the new one.
- A filter that keeps few rows (under 2%, or under 20,000 rows) is answered exactly over those
  rows: graph search under a very selective filter loses recall, and an exact scan of a small
  subset is cheap.
- A large ``k`` widens the search (HNSW ``efSearch``, IVF ``nprobe``) so that k rows can be
  found; a query that still comes back short of k is answered exactly, so k hits come back
  whenever k rows qualify, as with exact search. An HNSW search for more than ``efSearch`` rows
  and more than 1% of the rows it may return is answered exactly from the start: a beam that
  wide costs more than the scan (measured: 2x at 1% of 60,000 rows, 20x at half of them).
- Recall@10 against exact search is measured in ``tests/vertex_mm/index/test_faiss_index.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._optional import require
from ._folder import PinnedFolder
from .base import BaseIndex, IndexConfig
from .errors import IndexCorruptedError
from .manifest import Manifest
from .topk import exact_topk

__all__ = ["FaissIndex", "import_faiss"]

FAISS_NAME = "faiss.index"
_EXACT_BELOW_FRACTION = 0.02
_EXACT_BELOW_ROWS = 20_000
# An HNSW beam widened to k costs about in proportion to k, a scan in proportion to the rows
# (both x dimension): one query at 20,000 and 60,000 rows x 128 broke even near k = 1.2% of
# the rows, four or more queries (one BLAS scan for all) near 0.5%; at k = 5% the beam took 2-4x
# the scan, at 50% 20-60x (2-core x86, M=32, efSearch=128: F9 of the session_diff review).
_EXACT_ABOVE_K_FRACTION = 0.01
_IVF_MIN_POINTS_PER_LIST = 39  # FAISS warns below this many training points per centroid


def import_faiss() -> Any:
    return require("index", "faiss", what="the FAISS index backend")


class FaissIndex(BaseIndex):
    """Approximate cosine top-k with a FAISS HNSW or IVF structure over the stored rows."""

    kind: ClassVar[str] = "faiss"
    update_in_place: ClassVar[bool] = False

    def __init__(self, config: IndexConfig | Any) -> None:
        super().__init__(config)
        self._faiss_mod = import_faiss()
        self._ann: Any = None  # built lazily: IVF needs data to train on

    # -- backend hooks -------------------------------------------------------------------------
    def _search_rows(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        n_rows = self._store.n_rows
        n_allowed = n_rows if allowed is None else int(allowed.sum())
        if allowed is not None and (n_allowed < _EXACT_BELOW_ROWS or n_allowed < _EXACT_BELOW_FRACTION * n_rows):
            picked = np.flatnonzero(allowed)
            scores, sub = exact_topk(self._store.vectors[picked], queries, k)
            return scores, np.where(sub >= 0, picked[np.maximum(sub, 0)], -1)
        if k > _EXACT_ABOVE_K_FRACTION * n_allowed and self._beam_wider_than_set(k):
            # The beam a search finds k rows with costs more than the scan (the graph is kept).
            return exact_topk(self._store.vectors, queries, k, allowed=allowed)
        ann = self._built()
        params = self._search_params(allowed, k)
        scores, rows = ann.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
        scores, rows = scores.astype(np.float32), rows.astype(np.int64)
        # An ANN search can come back short of k (a graph beam or the probed lists hold fewer
        # allowed rows), though k rows qualify (the caller made k <= allowed rows). Those queries
        # are answered exactly: k hits are promised, and a k this large is a scan anyway.
        short = np.flatnonzero((rows < 0).any(axis=1))
        if short.size:
            scores[short], rows[short] = exact_topk(self._store.vectors, queries[short], k, allowed=allowed)
        return scores, rows

    def _on_append(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        if self._ann is not None:
            if self._ann.ntotal != rows[0]:
                self._ann = None  # out of step (should not happen): rebuild on next search
            else:
                self._ann.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def _on_compact(self, old_rows: np.ndarray) -> None:
        self._ann = None  # row numbers changed: rebuild from the compacted rows

    def _save_extra(self, directory: Path) -> list[str]:
        ann = self._built()
        if ann is None:
            return []
        self._faiss_mod.write_index(ann, str(directory / FAISS_NAME))
        return [FAISS_NAME]

    def _after_load(self, folder: PinnedFolder, manifest: Manifest) -> None:
        if manifest.kind != self.kind or FAISS_NAME not in manifest.files:
            return  # another backend's index: the structure is built at the first search
        if manifest.config.get("faiss_kind") != self.config.faiss_kind:
            return
        path = folder.shown(FAISS_NAME)
        try:
            # Read from the handle the folder verified, not by name (another save's file by now).
            ann = self._faiss_mod.read_index(self._faiss_mod.PyCallbackIOReader(folder.file(FAISS_NAME).read))
        except RuntimeError as exc:
            raise IndexCorruptedError(f"{path}: unreadable FAISS index ({exc})") from exc
        if ann.ntotal != manifest.count or ann.d != manifest.dimension:
            raise IndexCorruptedError(
                f"{path}: FAISS index holds {ann.ntotal} x {ann.d}, manifest says {manifest.count} x {manifest.dimension}")
        self._ann = ann

    # -- the structure -------------------------------------------------------------------------
    def _built(self) -> Any:
        if self._ann is None and self._store.n_rows:
            self._ann = self._build(np.ascontiguousarray(self._store.vectors, dtype=np.float32))
        return self._ann

    def _build(self, vectors: np.ndarray) -> Any:
        faiss = self._faiss_mod
        d = self.dimension
        cfg = self.config
        if cfg.faiss_kind == "hnsw":
            ann = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            ann.hnsw.efConstruction = cfg.hnsw_ef_construction
        else:
            n = len(vectors)
            nlist = cfg.ivf_nlist or max(1, int(4 * math.sqrt(n)))
            nlist = max(1, min(nlist, n // _IVF_MIN_POINTS_PER_LIST or 1))
            quantizer = faiss.IndexFlatIP(d)
            ann = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors
            if n > 256 * nlist:  # FAISS's own cap on useful training points
                sample = vectors[np.random.default_rng(0).choice(n, 256 * nlist, replace=False)]
            ann.train(sample)
        ann.add(vectors)
        return ann

    def _beam_wider_than_set(self, k: int) -> bool:
        """Whether top-``k`` needs an HNSW beam wider than the configured ``efSearch`` (an IVF
        search widened to k scans about 2k rows, which costs no more than the scan)."""
        return self.config.faiss_kind == "hnsw" and k > self.config.hnsw_ef_search

    def _search_params(self, allowed: np.ndarray | None, k: int) -> Any:
        """Search settings for top-``k``: the configured ones, widened so that one search can
        find k rows (an HNSW beam narrower than k returns fewer; so do IVF lists holding fewer)."""
        faiss = self._faiss_mod
        cfg = self.config
        kwargs: dict[str, Any] = {}
        if allowed is not None:
            # IDSelectorBitmap reads bit i of byte i // 8, least significant bit first.
            self._bitmap = np.packbits(allowed, bitorder="little")
            kwargs["sel"] = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(self._bitmap))
        if cfg.faiss_kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=max(cfg.hnsw_ef_search, k), **kwargs)
        ann = self._ann
        # Twice the lists that hold k rows on average: the nearest lists are not the fullest.
        wanted = math.ceil(2 * k * ann.nlist / max(ann.ntotal, 1))
        return faiss.SearchParametersIVF(nprobe=min(ann.nlist, max(cfg.ivf_nprobe, wanted)), **kwargs)

    @property
    def ann(self) -> Any:
        """The FAISS index (built now if it was not yet)."""
        with self._lock:
            return self._built()
