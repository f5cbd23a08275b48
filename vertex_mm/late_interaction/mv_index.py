"""A persistent multi-vector page index: one directory, memory-mapped, searched by MaxSim.

>>> idx = MultiVectorIndex.create("pages.idx", space=embedder.space)           # doctest: +SKIP
>>> idx.add("report.pdf", page_vectors, metadata=[{"width": 1275, ...}, ...])  # doctest: +SKIP
>>> idx.commit()                                                             # doctest: +SKIP
>>> idx.search(query_vectors, k=5)                     # float MaxSim         # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="binary")      # Hamming, then rerank # doctest: +SKIP

Pages are stored float16 by default (a 1030 x 128 ColPali page: 257 KiB) and, unless
``binary=False``, also as sign bits (16 KiB) for the two-stage search. ``pool_factor`` > 1
pools each page's vectors at insert time (:mod:`.pooling`). Documents are the unit of change:
``add`` appends a document's pages (buffered until :meth:`commit`), ``delete`` removes them;
:meth:`compact` rewrites the segments without deleted pages. The layout and the integrity
checks are described in :mod:`.mv_store`.

The index knows its embedding space and refuses vectors from another one.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError
from ..results import EmbeddingSpace
from .binary import BinaryPages, hamming_maxsim
from .hits import PageHit
from .maxsim import maxsim, top_k
from .mv_store import Manifest, Segment, load_segment, write_manifest, write_segment
from .packed import PackedPages
from .pooling import pool_page

__all__ = ["MultiVectorIndex"]

SearchMode = Literal["float", "binary"]


class MultiVectorIndex:
    """Pages of documents as multi-vector matrices; search with :meth:`search`."""

    def __init__(self, root: Path, manifest: Manifest, segments: list[Segment]) -> None:
        self.root = root
        self._manifest = manifest
        self._segments = segments
        self._pending: list[np.ndarray] = []
        self._pending_rows: list[dict[str, Any]] = []
        self._pending_cache: Segment | None = None
        self._dirty = False
        self._docs: dict[str, int] = {}  # live pages per document, in insertion order
        for seg in segments:
            for row, alive in zip(seg.rows, seg.live):
                if alive:
                    self._docs[row["doc_id"]] = self._docs.get(row["doc_id"], 0) + 1

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        space: EmbeddingSpace | str,
        *,
        dtype: str = "float16",
        pool_factor: int = 1,
        binary: bool = True,
    ) -> "MultiVectorIndex":
        """Make a new empty index directory (it must not exist or be empty)."""
        root = Path(path)
        if root.exists() and any(root.iterdir()):
            raise InputError(f"{root} exists and is not empty; open it with MultiVectorIndex.open", input_name="path")
        if np.dtype(dtype) not in (np.dtype(np.float16), np.dtype(np.float32)):
            raise InputError(f"dtype must be float16 or float32, got {dtype!r}", input_name="dtype")
        if not isinstance(pool_factor, int) or pool_factor < 1:
            raise InputError(f"pool_factor must be an integer >= 1, got {pool_factor!r}", input_name="pool_factor")
        sp = space if isinstance(space, EmbeddingSpace) else EmbeddingSpace.from_id(space)
        root.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(space=sp.id, dim=sp.dimension, dtype=np.dtype(dtype).name, pool_factor=pool_factor, binary=binary)
        write_manifest(root, manifest)
        return cls(root, manifest, [])

    @classmethod
    def open(cls, path: str | Path, *, verify: bool = True) -> "MultiVectorIndex":
        """Open an index; ``verify`` checks every file's SHA-256 (sizes are always checked)."""
        root = Path(path)
        manifest = Manifest.read(root)
        segments = [load_segment(root, rec, manifest.dim, verify=verify) for rec in manifest.segments]
        return cls(root, manifest, segments)

    def __enter__(self) -> "MultiVectorIndex":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.commit()

    # --- properties ----------------------------------------------------------------------------
    @property
    def space(self) -> EmbeddingSpace:
        return EmbeddingSpace.from_id(self._manifest.space)

    @property
    def dim(self) -> int:
        return self._manifest.dim

    @property
    def pool_factor(self) -> int:
        return self._manifest.pool_factor

    @property
    def binary(self) -> bool:
        return self._manifest.binary

    def _all_segments(self) -> list[Segment]:
        if self._pending and self._pending_cache is None:
            packed = PackedPages.from_list(self._pending, dtype=self._manifest.dtype)
            binary = BinaryPages.from_pages(packed) if self.binary else None
            from .mv_store import SegmentRecord

            rec = SegmentRecord(name="(pending)", pages=len(packed), tokens=int(packed.tokens.shape[0]), files={})
            self._pending_cache = Segment(rec, packed, binary, list(self._pending_rows))
        return self._segments + ([self._pending_cache] if self._pending_cache is not None else [])

    def __len__(self) -> int:
        return sum(int(s.live.sum()) for s in self._all_segments())

    def doc_ids(self) -> list[str]:
        """Ids of the documents with at least one live page, in insertion order."""
        return list(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def stats(self) -> dict[str, Any]:
        """Pages, tokens and bytes per page of the float and the binary stores."""
        segs = self._all_segments()
        pages = sum(len(s.rows) for s in segs)
        float_bytes = sum(s.pages.nbytes for s in segs)
        bin_bytes = sum(s.binary.codes.nbytes for s in segs if s.binary is not None)
        return {
            "pages": len(self),
            "stored_pages": pages,
            "tokens": sum(int(s.pages.tokens.shape[0]) for s in segs),
            "segments": len(self._segments),
            "float_bytes_per_page": float_bytes / max(pages, 1),
            "binary_bytes_per_page": bin_bytes / max(pages, 1),
        }

    # --- changes -------------------------------------------------------------------------------
    def add(
        self,
        doc_id: str,
        pages: Sequence[np.ndarray],
        *,
        page_numbers: Sequence[int] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        space: EmbeddingSpace | None = None,
        replace: bool = False,
    ) -> int:
        """Buffer one document's pages (one ``(n_i, dim)`` matrix each); :meth:`commit` writes them.

        Raises :class:`InputError` for an empty or duplicate ``doc_id`` (unless ``replace``),
        a page of the wrong dimension or non-finite values, and
        :class:`EmbeddingSpaceMismatchError` when ``space`` is not the index's.
        """
        if space is not None:
            self.space.require_same(space, what=f"pages of {doc_id!r}")
        if not isinstance(doc_id, str) or not doc_id:
            raise InputError(f"doc_id must be a non-empty string, got {doc_id!r}", input_name="doc_id")
        if doc_id in self and not replace:
            raise InputError(f"document {doc_id!r} is already indexed; pass replace=True to re-index it", input_name="doc_id")
        n = len(pages)
        if n == 0:
            raise InputError(f"document {doc_id!r} has no pages", input_name="pages")
        numbers = list(page_numbers) if page_numbers is not None else list(range(1, n + 1))
        metas = list(metadata) if metadata is not None else [{} for _ in range(n)]
        if len(numbers) != n or len(metas) != n:
            raise InputError(f"document {doc_id!r}: {n} pages but {len(numbers)} page numbers and {len(metas)} metadata rows", input_name="pages")
        checked = PackedPages.from_list(list(pages))  # validates shapes and values, names the page
        if checked.dim != self.dim:
            raise InputError(f"document {doc_id!r} has {checked.dim}-d vectors, the index holds dimension {self.dim}", input_name="pages")
        if doc_id in self:
            self.delete(doc_id)  # only after the new pages passed every check
        for i in range(n):
            self._pending.append(pool_page(checked.page(i), self.pool_factor).astype(self._manifest.dtype))
            self._pending_rows.append({"doc_id": doc_id, "page_number": int(numbers[i]), "metadata": dict(metas[i])})
        self._docs[doc_id] = n
        self._pending_cache = None
        self._dirty = True
        return n

    def delete(self, doc_id: str) -> int:
        """Remove every page of ``doc_id``; returns how many (0 when it was not indexed)."""
        removed = 0
        for seg in self._segments:
            dead = set(seg.record.deleted)
            hit = [i for i, row in enumerate(seg.rows) if row["doc_id"] == doc_id and i not in dead]
            if hit:
                seg.record.deleted = sorted(dead | set(hit))
                removed += len(hit)
        keep = [i for i, row in enumerate(self._pending_rows) if row["doc_id"] != doc_id]
        removed += len(self._pending_rows) - len(keep)
        self._pending = [self._pending[i] for i in keep]
        self._pending_rows = [self._pending_rows[i] for i in keep]
        self._pending_cache = None
        self._docs.pop(doc_id, None)
        self._dirty = self._dirty or removed > 0
        return removed

    def commit(self) -> None:
        """Write buffered pages as a new segment and record deletions, atomically."""
        if not self._dirty:
            return
        if self._pending:
            seg = self._all_segments()[-1]
            name = f"seg-{self._manifest.next_segment:06d}"
            record = write_segment(self.root, name, seg.pages, seg.rows, self.binary)
            self._manifest.next_segment += 1
            self._segments.append(load_segment(self.root, record, self.dim, verify=False))
        self._manifest.segments = [s.record for s in self._segments]
        write_manifest(self.root, self._manifest)
        self._pending, self._pending_rows, self._pending_cache = [], [], None
        self._dirty = False

    def compact(self) -> None:
        """Merge all segments into one without deleted pages (then remove the old files)."""
        self.commit()
        if len(self._segments) <= 1 and not any(s.record.deleted for s in self._segments):
            return
        old = list(self._segments)
        for seg in old:
            for i in np.flatnonzero(seg.live):
                self._pending.append(np.asarray(seg.pages.page(int(i))))
                self._pending_rows.append(seg.rows[int(i)])
        self._segments, self._pending_cache, self._dirty = [], None, True
        self.commit()
        for seg in old:
            shutil.rmtree(self.root / seg.record.name, ignore_errors=True)

    # --- search --------------------------------------------------------------------------------
    def search(
        self,
        queries: Sequence[np.ndarray] | np.ndarray,
        k: int = 5,
        *,
        mode: SearchMode = "float",
        candidates: int = 64,
        compute: str = "float32",
        query_bits: int = 2,
        space: EmbeddingSpace | None = None,
    ) -> list[list[PageHit]]:
        """Best ``k`` pages for each query (a ``(tokens, dim)`` matrix, or a list of them).

        ``mode="float"`` scores every page by MaxSim. ``mode="binary"`` scores every page by
        Hamming-MaxSim over sign bits, then reranks each query's top ``candidates`` pages by
        float MaxSim (scores are then float MaxSim too); ``query_bits`` is passed to
        :func:`~vertex_mm.late_interaction.hamming_maxsim`. ``compute`` is the float arithmetic
        (see :func:`vertex_mm.late_interaction.maxsim`).
        """
        if space is not None:
            self.space.require_same(space, what="query vectors")
        q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
        segs = [s for s in self._all_segments() if s.live.any()]
        if not segs or not q_list:
            return [[] for _ in q_list]
        if mode == "float":
            scores = self._score_all(segs, lambda s: maxsim(q_list, s.pages, compute=compute))  # type: ignore[arg-type]
            vals, idx = top_k(scores, k)
            return [self._hits(segs, v, i) for v, i in zip(vals, idx)]
        if mode != "binary":
            raise InputError(f"mode must be 'float' or 'binary', got {mode!r}", input_name="mode")
        if not self.binary:
            raise InputError("this index was created with binary=False; search with mode='float'", input_name="mode")
        coarse = self._score_all(segs, lambda s: hamming_maxsim(q_list, s.binary, query_bits=query_bits))  # type: ignore[arg-type]
        _, cand = top_k(coarse, max(candidates, k))
        out = []
        for row, (q, ids) in enumerate(zip(q_list, cand)):
            # Sorted ids read each memory map front to back; dead pages are dropped here.
            ids = np.sort(ids[np.isfinite(coarse[row, ids])])
            fine = maxsim([q], self._gather(segs, ids), compute=compute)  # type: ignore[list-item]
            v, local = top_k(fine, k)
            out.append(self._hits(segs, v[0], ids[local[0]]))
        return out

    def _score_all(self, segs: list[Segment], score: Any) -> np.ndarray:
        parts = []
        for seg in segs:
            s = np.asarray(score(seg), dtype=np.float32)
            s[:, ~seg.live] = -np.inf
            parts.append(s)
        return np.concatenate(parts, axis=1)

    @staticmethod
    def _locate(segs: list[Segment], ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bounds = np.cumsum([0] + [len(s.rows) for s in segs])
        which = np.searchsorted(bounds, ids, side="right") - 1
        return which, ids - bounds[which]

    def _gather(self, segs: list[Segment], ids: np.ndarray) -> PackedPages:
        which, local = self._locate(segs, ids)
        parts = [segs[w].pages.select(local[which == w]) for w in np.unique(which)]
        return PackedPages.concat(parts)

    def _hits(self, segs: list[Segment], values: np.ndarray, ids: np.ndarray) -> list[PageHit]:
        which, local = self._locate(segs, np.asarray(ids))
        hits = []
        for v, w, i in zip(values, which, local):
            if not np.isfinite(v):
                continue  # a deleted page, only reachable when k exceeds the live pages
            row = segs[int(w)].rows[int(i)]
            hits.append(PageHit(row["doc_id"], int(row["page_number"]), float(v), dict(row.get("metadata", {}))))
        return hits
