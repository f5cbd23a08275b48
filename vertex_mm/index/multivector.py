"""A multi-vector page index: documents' pages as token matrices, searched by MaxSim.

>>> idx = MultiVectorIndex(embedder.space)                                     # doctest: +SKIP
>>> idx.add("report", page_vectors, metadata=[{"source": "report.pdf"}, ...])  # doctest: +SKIP
>>> idx.save("pages.idx")                        # then idx.save() adds what changed since
>>> idx.search(query_vectors, k=5)               # exact float32 MaxSim, screened # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="exact")  # the same answer, plain scan  # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="binary")  # Hamming, then rerank       # doctest: +SKIP
>>> idx.search(query_vectors, k=5, mode="muvera")  # MUVERA FDE, then rerank    # doctest: +SKIP
>>> idx = MultiVectorIndex.load("pages.idx")     # or vertex_mm.index.load_index

Pages are stored float16 by default (a 1030 x 128 ColPali page: 257 KiB) and, unless
``binary=False``, also as sign bits (16 KiB) for the two-stage search. ``pool_factor`` > 1
pools each page's vectors at insert time (:mod:`vertex_mm.late_interaction.pooling`).
Documents are the unit of change: ``add`` buffers a document's pages, ``delete`` removes them,
and :meth:`save` writes the buffered pages as a new immutable segment and the deletions into
the manifest; :meth:`compact` rewrites the index as one segment without deleted pages. The
layout is in :mod:`._segments`; persistence (checksums, atomic writes) is the one every index
kind shares (:mod:`.persist`). With ``muvera=`` (or :meth:`MultiVectorIndex.enable_muvera`)
each segment also keeps its pages' MUVERA encodings (:mod:`._fde`); each segment keeps the
bfloat16 copy and norms that ``mode="screened"`` screens with (:mod:`._screen`; ``screen_copies=False``
builds it in memory instead, for an index half the size on disk).

The index knows its embedding space and refuses vectors from another one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import InputError
from ..late_interaction.binary import BinaryPages, check_query_bits, hamming_maxsim, prefilter_size
from ..late_interaction.maxsim import Compute, maxsim, top_k
from ..late_interaction.muvera import MuveraConfig
from ..late_interaction.packed import PackedPages, int_at_least
from ..late_interaction.pooling import pool_page
from ..results import EmbeddingSpace
from ._fde import FdeSidecars, is_sidecar
from ._mv_search import hits, prefiltered_hamming, query_list, rerank, score_all
from ._screen import SCREEN_FILES, ScreenCopies, is_screen_file
from ._segments import (
    CODES,
    SEGMENT_FILES,
    SEGMENT_NAME,
    Segment,
    SegmentRecord,
    check_segment_name,
    load_segment,
    write_segment_files,
)
from .errors import IndexCorruptedError, IndexKindError
from .manifest import MANIFEST_NAME, FileRecord, Manifest, locate_index
from .persist import remove_stale, write_directory, write_manifest, write_subdirectory
from .results import PageHit, page_id

__all__ = ["MultiVectorIndex", "SearchMode"]

SearchMode = Literal["screened", "exact", "float", "binary", "muvera"]
#: The modes :meth:`MultiVectorIndex.search` accepts ("float" is the old name of "exact").
SEARCH_MODES: tuple[str, ...] = ("screened", "exact", "float", "binary", "muvera")
DEFAULT_MODE: SearchMode = "screened"

#: Pages reranked by float MaxSim per query when ``candidates`` is not given, per mode.
DEFAULT_CANDIDATES: dict[str, int] = {"binary": 64, "muvera": 256}
#: ``mode="screened"`` scans a segment of fewer than this many live pages per result (``k``)
#: exactly: the same answer, and there the screen keeps too many pages to save time
#: (benchmarks/bench_index_modes.py: break-even near 300 pages per result on random pages).
DEFAULT_SCREEN_PAGES_PER_K = 400
#: ``mode="binary"`` with 2-bit queries first ranks every page by plain (1-bit) Hamming,
#: which costs half the popcounts, and scores only each query's best ``binary_prefilter``
#: pages (at least :data:`~vertex_mm.late_interaction.binary.PREFILTER_PER_CANDIDATE` per
#: candidate, :func:`~vertex_mm.late_interaction.binary.prefilter_size`) with the 2-bit
#: weights; 0 scores every page with them.
#: (benchmarks/bench_pages_scale.py: 100,000 pages, the 2-bit stage over all pages took
#: ~1.7x the 1-bit one.)
DEFAULT_BINARY_PREFILTER = 1024


class MultiVectorIndex:
    """Pages of documents as multi-vector matrices; search with :meth:`search`."""

    kind: ClassVar[str] = "multivector"
    def __init__(self, space: EmbeddingSpace | str, *, dtype: str = "float16", pool_factor: int = 1, binary: bool = True,
                 embedder: str = "", muvera: MuveraConfig | Mapping[str, Any] | None = None,
                 screen_copies: bool = True, binary_prefilter: int = DEFAULT_BINARY_PREFILTER,
                 screen_pages_per_k: int = DEFAULT_SCREEN_PAGES_PER_K) -> None:
        if np.dtype(dtype) not in (np.dtype(np.float16), np.dtype(np.float32)):
            raise InputError(f"dtype must be float16 or float32, got {dtype!r}", input_name="dtype")
        if not isinstance(pool_factor, int) or pool_factor < 1:
            raise InputError(f"pool_factor must be an integer >= 1, got {pool_factor!r}", input_name="pool_factor")
        self._space = space if isinstance(space, EmbeddingSpace) else EmbeddingSpace.from_id(space)
        self._dtype = np.dtype(dtype).name
        self._pool_factor = pool_factor
        self._binary = bool(binary)
        self._screen_copies = bool(screen_copies)
        self.binary_prefilter = binary_prefilter  # the setters check them: a bad value fails here, not at a search
        self.screen_pages_per_k = screen_pages_per_k
        #: The page-retriever spec that embeds into this index (``"regions"``, ``"colpali:DIR"``),
        #: saved so that a search can load the same embedder; "" when not known.
        self.embedder = embedder
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
        self._fde = FdeSidecars(self.dimension, muvera)
        self._screen = ScreenCopies()

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> MultiVectorIndex:
        """Open a saved index; ``verify`` checks every file's SHA-256 (sizes are always checked)."""
        root = locate_index(Path(path))
        index = cls.from_manifest(root, Manifest.read(root), verify=verify)
        index.path = Path(path)
        return index

    @classmethod
    def from_manifest(cls, path: Path, manifest: Manifest, *, verify: bool = True) -> MultiVectorIndex:
        """:meth:`load` with the manifest already read (how :func:`load_index` calls it).

        Index folders are trusted input, yet a damaged or doctored one fails with
        :class:`IndexCorruptedError` (never a crash), with or without ``verify``: segment
        names must be ``seg-NNNNNN``, the manifest must list exactly each segment's files,
        and every array must have the shape, dtype and offsets the manifest implies.
        """
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
        _check_records(where, records, manifest, index.binary)
        manifest.verify_files(path, checksums=verify)
        index._next_segment = max([index._next_segment, *(int(r.name[4:]) + 1 for r in records)])
        index._segments = [load_segment(path, rec, index.dimension, binary=index.binary, dtype=index.dtype) for rec in records]
        index.path, index._files, index._created = path, dict(manifest.files), manifest
        index._fde.attach(path, index._files)
        index._screen.attach(path, index._files)
        for seg in index._segments:
            for row, alive in zip(seg.rows, seg.live):
                if alive:
                    index._docs[row["doc_id"]] = index._docs.get(row["doc_id"], 0) + 1
        return index

    # --- properties ----------------------------------------------------------------------------
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
        """Whether each segment is saved with its bfloat16 screened copy (as many bytes again as
        float16 pages). Without it, ``mode="screened"`` builds the copy in memory on its first
        search: the same answers, a slower first search, 2 bytes of RAM per stored value."""
        return self._screen_copies

    @property
    def binary_prefilter(self) -> int:
        """Pages per query that the 1-bit stage of a 2-bit ``mode="binary"`` search keeps at
        least (:data:`DEFAULT_BINARY_PREFILTER`); 0 scores every page with 2 bits. Setting it
        to anything but an integer >= 0 raises :class:`InputError`."""
        return self._binary_prefilter

    @binary_prefilter.setter
    def binary_prefilter(self, value: int) -> None:
        self._binary_prefilter = int_at_least(value, "binary_prefilter", 0)

    @property
    def screen_pages_per_k(self) -> int:
        """``mode="screened"`` scans a segment of fewer live pages than this per result
        (:data:`DEFAULT_SCREEN_PAGES_PER_K`); 0 screens every segment. Setting it to anything
        but an integer >= 0 raises :class:`InputError`."""
        return self._screen_pages_per_k

    @screen_pages_per_k.setter
    def screen_pages_per_k(self, value: int) -> None:
        self._screen_pages_per_k = int_at_least(value, "screen_pages_per_k", 0)

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
        numbers = list(page_numbers) if page_numbers is not None else list(range(1, n + 1))
        ids = list(page_ids) if page_ids is not None else [page_id(doc_id, int(p)) for p in numbers]
        metas = list(metadata) if metadata is not None else [{} for _ in range(n)]
        if not len(numbers) == len(ids) == len(metas) == n:
            raise InputError(f"document {doc_id!r}: {n} pages but {len(numbers)} page numbers, {len(ids)} page ids "
                             f"and {len(metas)} metadata rows", input_name="pages")
        checked = PackedPages.from_list(list(pages))  # validates shapes and values, names the page
        if checked.dim != self.dimension:
            raise InputError(f"document {doc_id!r} has {checked.dim}-d vectors, the index holds dimension {self.dimension}",
                             input_name="pages")
        if doc_id in self:
            self.delete(doc_id)  # only after the new pages passed every check
        for i in range(n):
            vectors = checked.page(i) if pooled else pool_page(checked.page(i), self.pool_factor)
            self._pending.append(vectors.astype(self._dtype))
            self._pending_rows.append({"doc_id": doc_id, "page_number": int(numbers[i]), "page_id": str(ids[i]),
                                       "metadata": dict(metas[i])})
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

    # --- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the index. Saved again where it lives (``path`` omitted or the same), only what
        changed is written: new pages as one new segment, deletions in the manifest. Saved
        anywhere else, the whole index is written there as one segment, atomically."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise InputError("this index has not been saved yet: pass save(path)", input_name="path")
        if self.path is not None and target.resolve() == self.path.resolve() and (target / MANIFEST_NAME).is_file():
            self._save_changes()
        else:
            self._save_whole(target)
        return target

    def compact(self) -> None:
        """Rewrite the saved index as one segment without deleted pages.

        Crash-safe in place: the live pages are written as a new segment, then one atomic
        manifest replacement switches to it, and only then are the old segments removed (the
        folders the new manifest does not name, found by listing the index folder, never by
        names read from a manifest). A crash leaves the old index or the compacted one; what
        it leaves over is removed by the next save."""
        if self.path is None:
            raise InputError("compact() rewrites a saved index: save(path) first", input_name="path")
        if not (self.path / MANIFEST_NAME).is_file():
            self._save_whole(self.path)
            return
        packed, rows = self._live_packed()
        fde = self._live_fde() if self.muvera is not None and rows else None
        remove_stale(self.path, self._manifest(self._files), SEGMENT_NAME)
        records: list[SegmentRecord] = []
        files: dict[str, FileRecord] = {}
        if rows:
            name = self._take_segment_name()
            files = write_subdirectory(self.path, name, lambda d: self._write_segment(d, name, packed, rows, fde))
            records.append(SegmentRecord(name, len(rows), int(packed.tokens.shape[0])))
        self._created = write_manifest(self.path, self._manifest(files, records))
        self._files = dict(files)
        self._segments = [self._open_segment(self.path, rec) for rec in records]
        self._attach(self.path, [rec.name for rec in records])
        self._clear_pending()
        remove_stale(self.path, self._created, SEGMENT_NAME)

    def _save_changes(self) -> None:
        assert self.path is not None
        if not self._dirty:
            return
        if self._pending:
            # A save killed after writing its segment but before its manifest left that folder
            # (under the name this save is about to use): clear it first.
            remove_stale(self.path, self._manifest(self._files), SEGMENT_NAME)
            seg = self._all_segments()[-1]
            name = self._take_segment_name()
            fde = self._fde.fde(seg, saved=False) if self.muvera is not None else None
            written = write_subdirectory(self.path, name, lambda d: self._write_segment(d, name, seg.pages, seg.rows, fde))
            record = SegmentRecord(name, len(seg.rows), int(seg.pages.tokens.shape[0]))
            segment = self._open_segment(self.path, record)
            self._files.update(written)
            self._segments.append(segment)
        self._created = write_manifest(self.path, self._manifest(self._files))
        self._attach(self.path, None)
        self._clear_pending()

    def _save_whole(self, target: Path) -> None:
        packed, rows = self._live_packed()
        fde = self._live_fde() if self.muvera is not None and rows else None
        records: list[SegmentRecord] = []
        if rows:
            records.append(SegmentRecord(self._take_segment_name(), len(rows), int(packed.tokens.shape[0])))

        def write(directory: Path) -> list[str]:
            if not records:
                return []
            folder = directory / records[0].name
            folder.mkdir()
            return [f"{folder.name}/{n}" for n in self._write_segment(folder, folder.name, packed, rows, fde)]

        self._created = write_directory(target, self._manifest({}, records), write)
        self.path, self._files = target, dict(self._created.files)
        self._segments = [self._open_segment(target, rec) for rec in records]
        self._attach(target, [rec.name for rec in records])
        self._clear_pending()

    def _live_packed(self) -> tuple[PackedPages, list[dict[str, Any]]]:
        """The live pages (saved and pending) packed in order, with their rows."""
        live = [(np.asarray(seg.pages.page(int(i))), seg.rows[int(i)])
                for seg in self._all_segments() for i in np.flatnonzero(seg.live)]
        if not live:
            return PackedPages(np.zeros((0, self.dimension), self._dtype), np.zeros(1, np.int64)), []
        return PackedPages.from_list([p for p, _ in live], dtype=np.dtype(self._dtype)), [r for _, r in live]

    def _write_segment(self, folder: Path, name: str, packed: PackedPages, rows: list[dict[str, Any]],
                       fde: np.ndarray | None) -> list[str]:
        """A new segment's files, its MUVERA sidecar and its screened copy; returns their names."""
        return (write_segment_files(folder, packed, rows, self.binary)
                + (self._fde.write(folder, name, fde) if fde is not None else [])
                + (self._screen.write(folder, packed) if self.screen_copies else []))

    def _attach(self, root: Path, segments: list[str] | None) -> None:
        """Point the sidecars at the files just written; ``segments``: the ones left (compaction)."""
        self._fde.attach(root, self._files)
        self._screen.attach(root, self._files)
        if segments is not None:
            self._fde.keep_only(segments)
            self._screen.keep_only(segments)

    def _open_segment(self, root: Path, record: SegmentRecord) -> Segment:
        return load_segment(root, record, self.dimension, binary=self.binary, dtype=self._dtype)

    def _take_segment_name(self) -> str:
        name = f"seg-{self._next_segment:06d}"
        self._next_segment += 1
        return name

    def _clear_pending(self) -> None:
        self._pending, self._pending_rows, self._pending_cache = [], [], None
        self._fde.forget_unsaved()
        self._screen.forget_unsaved()
        self._dirty = False

    def _live_fde(self) -> np.ndarray:
        """The MUVERA encodings of the live pages, in page order (what compaction keeps)."""
        return np.concatenate([self._segment_fde(seg)[seg.live] for seg in self._all_segments()])

    def _segment_fde(self, seg: Segment) -> np.ndarray:
        return self._fde.fde(seg, saved=seg is not self._pending_cache)

    def _manifest(self, files: dict[str, FileRecord], records: list[SegmentRecord] | None = None) -> Manifest:
        segments = [s.record for s in self._segments] if records is None else records
        config: dict[str, Any] = {"pool_factor": self.pool_factor, "binary": self.binary, "embedder": self.embedder,
                                  "screen_copies": self.screen_copies,
                                  "next_segment": self._next_segment,
                                  "segments": [r.to_dict() for r in segments]}
        if self.muvera is not None:
            config["muvera"] = self.muvera.to_dict()
        created = self._created
        count = sum(r.pages - len(r.deleted) for r in segments)
        return Manifest(kind=self.kind, space=self.space.id, dimension=self.dimension, count=count,
                        files=files, config=config, dtype=self._dtype, normalized=False,
                        # the index keeps the time and version that first saved it
                        created_at=created.created_at if created else "", created_by=created.created_by if created else "")

    # --- search --------------------------------------------------------------------------------
    def search(
        self,
        queries: Sequence[np.ndarray] | np.ndarray,
        k: int = 5,
        *,
        mode: SearchMode = DEFAULT_MODE,
        candidates: int | None = None,
        compute: Compute = "float32",
        query_bits: int = 2,
        space: EmbeddingSpace | None = None,
    ) -> list[list[PageHit]]:
        """Best ``k`` pages for each query (a ``(tokens, dimension)`` matrix, or a list of them).

        ``mode="exact"`` (also spelled ``"float"``) scores every page by MaxSim.
        ``mode="screened"`` (the default) returns the same top ``k``, bit for bit (pages, order,
        float32 scores), through the certified bfloat16 screen of
        :class:`~vertex_mm.late_interaction.ScreenedPages`: faster on CPUs with bfloat16
        arithmetic; with ``compute="bfloat16"`` it is the plain scan, and so it is for segments
        of fewer than :attr:`screen_pages_per_k` live pages per result. ``mode="binary"`` scores every page by
        Hamming-MaxSim over sign bits, then reranks each query's top ``candidates`` pages by
        float MaxSim (scores are then float MaxSim too); ``query_bits`` is passed to
        :func:`~vertex_mm.late_interaction.hamming_maxsim` (with 2, the default, only each
        query's best pages by 1-bit Hamming, at least :attr:`binary_prefilter` and 8 per candidate,
        are scored with 2 bits). ``mode="muvera"`` takes each query's
        top ``candidates`` pages by the inner product of MUVERA encodings
        (:mod:`vertex_mm.late_interaction.muvera`; the index's :attr:`muvera` settings, or the
        defaults computed in memory), then reranks them the same way. ``candidates`` defaults to
        :data:`DEFAULT_CANDIDATES` of the mode. ``compute`` is the float arithmetic (see
        :func:`vertex_mm.late_interaction.maxsim`). An unknown ``mode``, ``k`` or ``candidates``
        not an integer >= 1, or ``query_bits`` not 1 or 2 raises :class:`InputError` in every
        mode, before any page is read.
        """
        if space is not None:
            self.space.require_same(space, what="query vectors")
        if mode not in SEARCH_MODES:
            raise InputError(f"mode must be one of {', '.join(map(repr, SEARCH_MODES))}, got {mode!r}", input_name="mode")
        k = int_at_least(k, "k", 1)
        if candidates is not None:
            candidates = int_at_least(candidates, "candidates", 1)
        check_query_bits(query_bits)
        q_list = query_list(queries)
        segs = [s for s in self._all_segments() if s.live.any()]
        if not segs or not q_list:
            return [[] for _ in q_list]
        if mode == "screened" and compute == "float32":
            vals, idx = self._screen.search(segs, self._pending_cache, q_list, int(k), self.screen_pages_per_k)
            return [hits(segs, v, i) for v, i in zip(vals, idx)]
        if mode in ("screened", "exact", "float"):
            scores = score_all(segs, lambda s: maxsim(q_list, s.pages, compute=compute))
            vals, idx = top_k(scores, k)
            return [hits(segs, v, i) for v, i in zip(vals, idx)]
        n_cand = DEFAULT_CANDIDATES[mode] if candidates is None else candidates
        if mode == "muvera":
            q_fde = self._fde.encoder.encode_queries(q_list)
            coarse = score_all(segs, lambda s: q_fde @ self._segment_fde(s).T)
            return rerank(segs, q_list, coarse, max(n_cand, k), k, compute)
        if not self.binary:
            raise InputError("this index was created with binary=False; search with mode='screened', 'exact' or 'muvera'",
                             input_name="mode")
        live = sum(int(s.live.sum()) for s in segs)
        n_pre = prefilter_size(live, max(n_cand, k), self.binary_prefilter)
        if query_bits == 2 and n_pre:
            coarse = prefiltered_hamming(segs, q_list, n_pre)
        else:
            coarse = score_all(segs, lambda s: hamming_maxsim(q_list, s.binary, query_bits=query_bits))  # type: ignore[arg-type]
        return rerank(segs, q_list, coarse, max(n_cand, k), k, compute)

    def maxsim_scores(self, queries: Sequence[np.ndarray] | np.ndarray, *, compute: Compute = "float32") -> np.ndarray:
        """Float MaxSim of every query against every live page: ``(queries, pages)`` float32,
        columns in the order of :meth:`page_ids`."""
        q_list = query_list(queries)
        segs = self._all_segments()
        if not segs or not q_list:
            return np.zeros((len(q_list), 0), np.float32)
        scores = score_all(segs, lambda s: maxsim(q_list, s.pages, compute=compute))
        return scores[:, np.concatenate([s.live for s in segs])]

    def live_pages(self) -> PackedPages:
        """The stored vectors of the live pages (a copy), in the order of :meth:`page_ids`."""
        segs = [s for s in self._all_segments() if s.live.any()]
        if not segs:
            return PackedPages(np.zeros((0, self.dimension), self._dtype), np.zeros(1, np.int64))
        return PackedPages.concat([s.pages.select(np.flatnonzero(s.live)) for s in segs])

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path else ""
        return f"MultiVectorIndex(space={self.space.id!r}, pages={len(self)}{where})"


def _check_records(where: Path, records: list[SegmentRecord], manifest: Manifest, binary: bool) -> None:
    """The segments' records agree with each other and with the manifest's file list."""
    names = [r.name for r in records]
    for rec in records:
        check_segment_name(rec.name)
        if rec.pages < 0 or rec.tokens < rec.pages:
            raise IndexCorruptedError(f"{where}: segment {rec.name} claims {rec.pages} pages of {rec.tokens} tokens")
        if len(set(rec.deleted)) != len(rec.deleted) or any(not 0 <= d < rec.pages for d in rec.deleted):
            raise IndexCorruptedError(f"{where}: segment {rec.name} lists deleted pages outside 0..{rec.pages - 1} or twice")
    if len(set(names)) != len(names):
        raise IndexCorruptedError(f"{where}: a segment is listed twice")
    wanted = {f"{n}/{f}" for n in names for f in SEGMENT_FILES if f != CODES or binary}
    # A segment may also hold MUVERA sidecars and its screened pair (optional: built in memory when absent).
    sidecars = {f for f in manifest.files if f.count("/") == 1 and f.split("/")[0] in names
                and (is_sidecar(f.split("/")[1]) or is_screen_file(f.split("/")[1]))}
    for name in names:
        pair = [f"{name}/{f}" in manifest.files for f in SCREEN_FILES]
        if any(pair) and not all(pair):
            raise IndexCorruptedError(f"{where}: segment {name} lists one of its screened files without the other")
    if set(manifest.files) - sidecars != wanted:
        missing, extra = sorted(wanted - set(manifest.files)), sorted(set(manifest.files) - wanted - sidecars)
        raise IndexCorruptedError(f"{where}: the file list does not match the segments (missing {missing}, unexpected {extra})")
    count = sum(r.pages - len(r.deleted) for r in records)
    if count != manifest.count:
        raise IndexCorruptedError(f"{where}: the segments hold {count} live pages, the manifest says {manifest.count}")
