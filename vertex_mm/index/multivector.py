"""A multi-vector page index: documents' pages as token matrices, searched by MaxSim.

>>> idx = MultiVectorIndex(embedder.space)                                     # doctest: +SKIP
>>> idx.add("report", page_vectors, metadata=[{"source": "report.pdf"}, ...])  # doctest: +SKIP
>>> idx.save("pages.idx")                        # then idx.save() adds what changed since
>>> idx.search(query_vectors, k=5)               # exact float32 MaxSim, screened # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="exact")  # the same answer, plain scan  # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="binary")  # Hamming, then rerank       # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="muvera")  # MUVERA FDE, then rerank    # doctest: +SKIP
>>> idx = MultiVectorIndex.load("pages.idx")     # or vertex_mm.index.load_index

Pages are stored float16 by default (a 1030 x 128 ColPali page: 257 KiB; values must lie
within float16's +-65504, which unit-length ColPali vectors do: ``add`` refuses others with an
:class:`InputError`, ``dtype="float32"`` stores them) and, unless
``binary=False``, also as sign bits (16 KiB) for the two-stage search. ``pool_factor`` > 1
pools each page's vectors at insert time (:mod:`vertex_mm.late_interaction.pooling`).
Documents are the unit of change: ``add`` buffers a document's pages, ``delete`` removes them,
and :meth:`save` writes the buffered pages as a new immutable segment and the deletions into
the manifest; :meth:`compact` rewrites the index as one segment without deleted pages. The
layout is in :mod:`._segments`, saving and opening in :mod:`._mv_persist` (checksums and atomic
writes as for every index kind, :mod:`.persist`), searching in :mod:`._mv_search`.
With ``muvera=`` (or :meth:`MultiVectorIndex.enable_muvera`) each segment also keeps its pages'
MUVERA encodings (:mod:`._fde`); each segment keeps the copy and norms that
``mode="screened"`` screens with (bfloat16, or 16-bit integers on x86 CPUs with AVX2 that
emulate bfloat16: :mod:`._screen`; ``screen_copies=False`` builds it in memory instead, for an
index half the size on disk).

The index knows its embedding space and refuses vectors from another one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..late_interaction.binary import BinaryPages
from ..late_interaction.muvera import MuveraConfig
from ..late_interaction.packed import PackedPages, check_fits, int_at_least
from ..late_interaction.pooling import pool_page
from ..results import EmbeddingSpace
from ._fde import FdeSidecars
from ._folder import PinnedFolder, read_pinned
from ._mv_persist import SegmentPersistence
from ._mv_search import DEFAULT_BINARY_PREFILTER, DEFAULT_CANDIDATES, SearchMode, SegmentSearch, default_screen_pages_per_k
from ._screen import ScreenCopies
from ._segments import Segment, SegmentRecord
from .errors import IndexCorruptedError, IndexKindError
from .manifest import MANIFEST_NAME, FileRecord, Manifest
from .results import page_id

__all__ = ["DEFAULT_CANDIDATES", "MultiVectorIndex", "SearchMode"]


class MultiVectorIndex(SegmentPersistence, SegmentSearch):
    """Pages of documents as multi-vector matrices; search with :meth:`search`
    (:class:`~._mv_search.SegmentSearch`)."""

    kind: ClassVar[str] = "multivector"

    def __init__(self, space: EmbeddingSpace | str, *, dtype: str = "float16", pool_factor: int = 1, binary: bool = True,
                 embedder: str = "", muvera: MuveraConfig | Mapping[str, Any] | None = None,
                 screen_copies: bool = True, binary_prefilter: int = DEFAULT_BINARY_PREFILTER,
                 screen_pages_per_k: int | None = None) -> None:
        if np.dtype(dtype) not in (np.dtype(np.float16), np.dtype(np.float32)):
            raise InputError(f"dtype must be float16 or float32, got {dtype!r}", input_name="dtype")
        pool_factor = int_at_least(pool_factor, "pool_factor", 1)
        self._space = space if isinstance(space, EmbeddingSpace) else EmbeddingSpace.from_id(space)
        self._dtype = np.dtype(dtype).name
        self._pool_factor = pool_factor
        self._binary = bool(binary)
        self._screen_copies = bool(screen_copies)
        self.binary_prefilter = binary_prefilter  # the setters check them: a bad value fails here, not at a search
        self.screen_pages_per_k = screen_pages_per_k
        self.embedder = embedder  # the setter checks it: a save would fail on anything but a string
        #: Where the index is saved (None until :meth:`save` or :meth:`load`).
        self.path: Path | None = None
        self._files: dict[str, FileRecord] = {}
        self._created: Manifest | None = None  # the last manifest written: keeps the creation stamp
        self._segments: list[Segment] = []
        self._next_segment = 1
        self._pending: list[np.ndarray] = []
        self._pending_rows: list[dict[str, Any]] = []
        self._pending_cache: Segment | None = None
        self._dirty = False
        self._docs: dict[str, int] = {}  # live pages per document, in insertion order
        self._owners: dict[str, str] | None = None  # page id -> document of the live pages (_page_owners)
        self._fde = FdeSidecars(self.dimension, muvera)
        self._screen = ScreenCopies()

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> MultiVectorIndex:
        """Open a saved index; ``verify`` checks every file's SHA-256 (sizes are always checked).

        A save to the same path while this loads leaves it the old index or the new one whole
        (the files are read through one handle on the folder: :func:`~._folder.read_pinned`).
        Index folders are trusted input, yet a damaged or doctored one fails with
        :class:`IndexCorruptedError` (never a crash), with or without ``verify``: segment
        names must be ``seg-NNNNNN``, the manifest must list exactly each segment's files,
        and every array must have the shape, dtype and offsets the manifest implies.
        """
        index = read_pinned(Path(path), lambda folder: cls._read(folder, folder.read_manifest(), verify=verify))
        index.path = Path(path)
        return index

    @classmethod
    def from_manifest(cls, path: Path, manifest: Manifest, *, verify: bool = True) -> MultiVectorIndex:
        """:meth:`load` with the manifest already read; a save to ``path`` since then makes the
        files disagree with it, as damage would (:meth:`load` reads one version whole)."""
        with PinnedFolder(path) as folder:
            return cls._read(folder, manifest, verify=verify)

    @classmethod
    def _read(cls, folder: PinnedFolder, manifest: Manifest, *, verify: bool) -> MultiVectorIndex:
        path = folder.path
        if manifest.kind != cls.kind:
            raise IndexKindError(f"{path} holds a {manifest.kind!r} index, not a multi-vector page index")
        where = path / MANIFEST_NAME
        cfg = manifest.config
        try:
            index = cls(manifest.space, dtype=manifest.dtype, pool_factor=int(cfg["pool_factor"]), binary=bool(cfg["binary"]),
                        embedder=str(cfg.get("embedder", "")), muvera=cfg.get("muvera"),
                        screen_copies=bool(cfg.get("screen_copies", True)))
            records = [SegmentRecord.from_dict(s) for s in cfg["segments"]]
            index._next_segment = int(cfg["next_segment"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IndexCorruptedError(f"{where}: multi-vector settings are missing or mangled ({exc!r})") from exc
        if index.dimension != manifest.dimension or index.dimension < 1:
            raise IndexCorruptedError(f"{where}: dimension {manifest.dimension} disagrees with the space {manifest.space!r}")
        index._open_saved(folder, manifest, records, verify=verify)
        return index

    # --- properties ----------------------------------------------------------------------------
    @property
    def embedder(self) -> str:
        """The page-retriever spec that embeds into this index (``"regions"``, ``"colpali:DIR"``),
        saved so that a search can load the same embedder; "" when not known."""
        return self._embedder

    @embedder.setter
    def embedder(self, value: str) -> None:
        if not isinstance(value, str):
            raise InputError(f"embedder must be a string (a page-retriever spec such as 'colpali:DIR'), "
                             f"got {type(value).__name__}", input_name="embedder")
        self._embedder = value

    @property
    def space(self) -> EmbeddingSpace:
        return self._space

    @property
    def dimension(self) -> int:
        """Dimension of the token vectors."""
        return self._space.dimension

    @property
    def dtype(self) -> str:
        return self._dtype

    @property
    def pool_factor(self) -> int:
        return self._pool_factor

    @property
    def binary(self) -> bool:
        return self._binary

    @property
    def screen_copies(self) -> bool:
        """Whether each segment is saved with its screened copy (bfloat16, or 16-bit integers on
        x86 CPUs with AVX2 that emulate bfloat16: as many bytes again as float16 pages). Without it,
        ``mode="screened"`` builds the copy in memory on its first search: the same answers, a
        slower first search, 2 bytes of RAM per stored value."""
        return self._screen_copies

    @property
    def binary_prefilter(self) -> int:
        """Pages per query that an opt-in 1-bit stage of a 2-bit ``mode="binary"`` search keeps
        (at least 8 per candidate); 0, the default (:data:`DEFAULT_BINARY_PREFILTER`), scores
        every page with 2 bits: the 1-bit stage is faster with the popcount kernel but loses
        weakly matching pages. Unused where
        the nibble kernel scores the index's codes (AVX2 CPUs without a vector popcount, 65-128
        dimensions: :func:`~vertex_mm.late_interaction.binary.nibble_runs`): there 2 bits over
        every page cost what the 1-bit stage does. Setting it to anything but
        an integer >= 0 raises :class:`InputError`."""
        return self._binary_prefilter

    @binary_prefilter.setter
    def binary_prefilter(self, value: int) -> None:
        self._binary_prefilter = int_at_least(value, "binary_prefilter", 0)

    @property
    def screen_pages_per_k(self) -> int:
        """``mode="screened"`` scans a segment of fewer live pages than this per result; 0
        screens every segment. By default it depends on the screen that runs here
        (:func:`~._mv_search.default_screen_pages_per_k`: 400 for bfloat16, 50 for int16).
        Setting it to anything but an integer >= 0 (or None, the default) raises
        :class:`InputError`."""
        if self._screen_pages_per_k is None:
            from ..late_interaction.screened import screen_kind

            return default_screen_pages_per_k(screen_kind())
        return self._screen_pages_per_k

    @screen_pages_per_k.setter
    def screen_pages_per_k(self, value: int | None) -> None:
        self._screen_pages_per_k = None if value is None else int_at_least(value, "screen_pages_per_k", 0)

    @property
    def muvera(self) -> MuveraConfig | None:
        """The MUVERA settings whose encodings are saved with each segment (None: not saved;
        ``mode="muvera"`` then encodes the pages in memory on its first search)."""
        return self._fde.config

    def enable_muvera(self, config: MuveraConfig | None = None) -> MuveraConfig:
        """Save MUVERA encodings (``config``, default :class:`MuveraConfig` for the index's
        dimension) with every segment written from now on; :meth:`compact` writes them for the
        pages already saved. Returns the settings."""
        cfg = self._fde.enable(config)
        self._dirty = True
        return cfg

    def _all_segments(self) -> list[Segment]:
        if self._pending and self._pending_cache is None:
            packed = PackedPages.from_list(self._pending, dtype=np.dtype(self._dtype))
            codes = BinaryPages.from_pages(packed) if self.binary else None
            rec = SegmentRecord(name="(not saved)", pages=len(packed), tokens=int(packed.tokens.shape[0]))
            self._pending_cache = Segment(rec, packed, codes, list(self._pending_rows))
        return self._segments + ([self._pending_cache] if self._pending_cache is not None else [])

    def __len__(self) -> int:
        return sum(int(s.live.sum()) for s in self._all_segments())

    def doc_ids(self) -> list[str]:
        """Ids of the documents with at least one live page, in insertion order."""
        return list(self._docs)

    def page_ids(self) -> list[str]:
        """Ids of the live pages, in the column order of :meth:`maxsim_scores`."""
        return [row["page_id"] for seg in self._all_segments() for row, alive in zip(seg.rows, seg.live) if alive]

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each live page's row (``page_id``, ``doc_id``, ``page_number``, ``metadata``), in the
        order of :meth:`page_ids`, without reading its vectors."""
        for seg in self._all_segments():
            for i in np.flatnonzero(seg.live):
                yield dict(seg.rows[int(i)])

    def iter_pages(self) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
        """Each live page as ``(row, vectors)``, in the order of :meth:`page_ids`: ``row`` holds
        ``page_id``, ``doc_id``, ``page_number`` and ``metadata``; ``vectors`` is the stored
        ``(tokens, dim)`` matrix (for exports to other stores)."""
        for seg in self._all_segments():
            for i in np.flatnonzero(seg.live):
                yield dict(seg.rows[int(i)]), seg.pages.page(int(i))

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
        page_ids: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        space: EmbeddingSpace | None = None,
        replace: bool = False,
        pooled: bool = False,
    ) -> int:
        """Buffer one document's pages (one ``(n_i, dimension)`` matrix each); :meth:`save`
        writes them. ``page_ids`` default to :func:`~vertex_mm.index.results.page_id` of each page.

        ``pooled=True`` says the pages are already pooled at the index's :attr:`pool_factor` (by
        :func:`~vertex_mm.late_interaction.pooling.pool_page`, e.g. in worker processes): they
        are stored as given.

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
        rows = self._page_rows(doc_id, n, page_numbers, page_ids, metadata)
        checked = PackedPages.from_list(list(pages))  # validates shapes and values, names the page
        if checked.dim != self.dimension:
            raise InputError(f"document {doc_id!r} has {checked.dim}-d vectors, the index holds dimension {self.dimension}",
                             input_name="pages")
        stored = []
        for i in range(n):
            vectors = checked.page(i) if pooled else pool_page(checked.page(i), self.pool_factor)
            check_fits(vectors, self._dtype, f"document {doc_id!r} page {rows[i]['page_number']}")
            stored.append(vectors.astype(self._dtype))
        if doc_id in self:
            self.delete(doc_id)  # only after the new pages passed every check
        owners = self._page_owners()
        for vectors, row in zip(stored, rows):
            self._pending.append(vectors)
            self._pending_rows.append(row)
            owners[row["page_id"]] = doc_id
        self._docs[doc_id] = n
        self._pending_cache = None
        self._dirty = True
        return n

    def _page_rows(self, doc_id: str, n: int, page_numbers: Sequence[int] | None, page_ids: Sequence[str] | None,
                   metadata: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        """The rows of ``doc_id``'s ``n`` new pages, every field checked (a bad one is an
        :class:`InputError` before anything changes: a row that fails at save time would fail
        every save after it)."""
        numbers = list(page_numbers) if page_numbers is not None else list(range(1, n + 1))
        metas = list(metadata) if metadata is not None else [{} for _ in range(n)]
        for p in numbers:
            if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
                raise InputError(f"document {doc_id!r}: page numbers must be integers, got {p!r}", input_name="page_numbers")
        ids = list(page_ids) if page_ids is not None else [page_id(doc_id, int(p)) for p in numbers]
        if not len(numbers) == len(ids) == len(metas) == n:
            raise InputError(f"document {doc_id!r}: {n} pages but {len(numbers)} page numbers, {len(ids)} page ids "
                             f"and {len(metas)} metadata rows", input_name="pages")
        owners = self._page_owners()
        seen: set[str] = set()
        rows = []
        for number, pid, meta in zip(numbers, ids, metas):
            if not isinstance(pid, str) or not pid:
                raise InputError(f"document {doc_id!r}: page ids must be non-empty strings, got {pid!r}",
                                 input_name="page_ids")
            if pid in seen or owners.get(pid, doc_id) != doc_id:
                where = "twice in this document" if pid in seen else f"by a page of {owners[pid]!r}"
                raise InputError(f"document {doc_id!r}: page id {pid!r} is already taken {where}", input_name=pid)
            seen.add(pid)
            if meta is None:
                meta = {}
            if not isinstance(meta, Mapping):
                raise InputError(f"document {doc_id!r} page {number}: metadata must be a dict, got {type(meta).__name__}",
                                 input_name="metadata")
            try:  # stored as a saved index reads it back (keys as strings), and deep-copied
                meta = json.loads(json.dumps(dict(meta), sort_keys=True, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise InputError(f"document {doc_id!r} page {number}: metadata is not JSON-serialisable: {exc}",
                                 input_name="metadata") from exc
            rows.append({"doc_id": doc_id, "page_number": int(number), "page_id": pid, "metadata": meta})
        return rows

    def _page_owners(self) -> dict[str, str]:
        """Page id -> document of every live page (built on first use, kept by add; delete drops it)."""
        if self._owners is None:
            owners = {seg.rows[int(i)]["page_id"]: seg.rows[int(i)]["doc_id"]
                      for seg in self._segments for i in np.flatnonzero(seg.live)}
            owners.update((row["page_id"], row["doc_id"]) for row in self._pending_rows)
            self._owners = owners
        return self._owners

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
        self._owners = None
        self._docs.pop(doc_id, None)
        self._dirty = self._dirty or removed > 0
        return removed

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path else ""
        return f"MultiVectorIndex(space={self.space.id!r}, pages={len(self)}{where})"
