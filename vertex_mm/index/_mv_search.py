"""Search over a multi-vector index's segments: the modes and their knobs' defaults, scores of
every live page, candidates reranked by float MaxSim, and hits. Ids run over the segments'
rows in order (deleted pages included, scored ``-inf``), as :meth:`MultiVectorIndex.search`
hands them out.

:class:`SegmentSearch` is the search half of :class:`~.multivector.MultiVectorIndex`
(``search``, ``maxsim_scores``, ``live_pages``): it checks a search's arguments and picks the
mode's steps below, as :class:`~._mv_persist.SegmentPersistence` is its saving half. The index
itself keeps its state, its settings and the changes (``add``, ``delete``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import InputError
from ..late_interaction.binary import check_query_bits, hamming_maxsim, hamming_maxsim_pairs, prefilter_size
from ..late_interaction.maxsim import Compute, maxsim, top_k
from ..late_interaction.packed import PackedPages, int_at_least, split_queries
from ..late_interaction.screened import screen_choice, screen_kind
from ._segments import Segment
from .results import PageHit

if TYPE_CHECKING:
    from ..results import EmbeddingSpace
    from ._fde import FdeSidecars
    from ._screen import ScreenCopies

__all__ = [
    "DEFAULT_BINARY_PREFILTER", "DEFAULT_CANDIDATES", "DEFAULT_MODE", "DEFAULT_SCREEN_PAGES_PER_K",
    "INT16_SCREEN_PAGES_PER_K", "SEARCH_MODES", "default_screen_pages_per_k",
    "SearchMode", "SegmentSearch", "gather", "hits", "locate", "prefiltered_hamming", "rerank", "score_all",
]

SearchMode = Literal["screened", "exact", "float", "binary", "muvera"]
#: The modes :meth:`MultiVectorIndex.search` accepts ("float" is the old name of "exact").
SEARCH_MODES: tuple[str, ...] = ("screened", "exact", "float", "binary", "muvera")
DEFAULT_MODE: SearchMode = "screened"

#: Pages reranked by float MaxSim per query when ``candidates`` is not given, per mode.
DEFAULT_CANDIDATES: dict[str, int] = {"binary": 64, "muvera": 256}
#: ``mode="screened"`` scans a segment of fewer than this many live pages per result (``k``)
#: exactly: the same answer, and there the screen keeps too many pages to save time
#: (benchmarks/bench_index_modes.py: break-even near 300 pages per result on random pages,
#: the bfloat16 screen on Zen 4).
DEFAULT_SCREEN_PAGES_PER_K = 400
#: The same for the int16 screen, whose tighter bound leaves far fewer pages to rescore
#: (bench_index_modes, AVX2 EPYC, k = 10: 0.73x at 10 pages per result, 1.14x at 25, 1.9x at 100).
INT16_SCREEN_PAGES_PER_K = 50


def default_screen_pages_per_k(kind: str | None) -> int:
    """The default of :attr:`screen_pages_per_k` for the screen ``kind`` that runs here."""
    return INT16_SCREEN_PAGES_PER_K if kind == "int16" else DEFAULT_SCREEN_PAGES_PER_K
#: ``mode="binary"`` with 2-bit queries scores every page with the 2-bit weights by default.
#: A ``binary_prefilter`` above 0 opts in to ranking every page by plain 1-bit Hamming first
#: (half the popcounts) and scoring only each query's best ``binary_prefilter`` pages (at least
#: :data:`~vertex_mm.late_interaction.binary.PREFILTER_PER_CANDIDATE` per candidate) with the
#: 2-bit weights: faster with the popcount kernel, but it loses weakly matching pages
#: (:func:`~vertex_mm.late_interaction.binary.prefilter_size`; the default was 1,024 until
#: 2026-12-08). With the nibble kernel (AVX2 CPUs without a vector popcount, 65-128
#: dimensions) 2 bits cost what 1 does and there is no prefilter.
DEFAULT_BINARY_PREFILTER = 0


def prefiltered_hamming(segs: list[Segment], q_list: list[np.ndarray], n_pre: int) -> np.ndarray:
    """2-bit Hamming-MaxSim of each query's best ``n_pre`` pages by 1-bit Hamming-MaxSim;
    ``-inf`` for the other pages (never candidates). The survivors of each segment are scored
    in one :func:`hamming_maxsim_pairs` call (all queries' pairs, on all threads)."""
    plain = score_all(segs, lambda s: hamming_maxsim(q_list, s.binary, query_bits=1))  # type: ignore[arg-type]
    _, pre = top_k(plain, n_pre)
    out = np.full(plain.shape, -np.inf, np.float32)
    rows, ids = np.repeat(np.arange(len(q_list)), pre.shape[1]), pre.ravel()
    keep = np.isfinite(plain[rows, ids])  # live pages only
    rows, ids = rows[keep], ids[keep]
    which, local = locate(segs, ids)
    for w in np.unique(which):
        sel = which == w
        out[rows[sel], ids[sel]] = hamming_maxsim_pairs(q_list, segs[w].binary, rows[sel], local[sel],
                                                        query_bits=2)
    return out


def rerank(segs: list[Segment], q_list: list[np.ndarray], coarse: np.ndarray, candidates: int, k: int,
            compute: Compute) -> list[list[PageHit]]:
    """Each query's top ``candidates`` pages by ``coarse``, rescored by float MaxSim."""
    _, cand = top_k(coarse, candidates)
    out = []
    for row, (q, ids) in enumerate(zip(q_list, cand)):
        # Sorted ids read each memory map front to back; dead pages are dropped here.
        ids = np.sort(ids[np.isfinite(coarse[row, ids])])
        fine = maxsim([q], gather(segs, ids), compute=compute)
        v, local = top_k(fine, k)
        out.append(hits(segs, v[0], ids[local[0]]))
    return out


def score_all(segs: list[Segment], score: Callable[[Segment], np.ndarray]) -> np.ndarray:
    parts = []
    for seg in segs:
        s = np.asarray(score(seg), dtype=np.float32)
        s[:, ~seg.live] = -np.inf
        parts.append(s)
    return np.concatenate(parts, axis=1)

def locate(segs: list[Segment], ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.cumsum([0] + [len(s.rows) for s in segs])
    which = np.searchsorted(bounds, ids, side="right") - 1
    return which, ids - bounds[which]

def gather(segs: list[Segment], ids: np.ndarray) -> PackedPages:
    which, local = locate(segs, ids)
    parts = [segs[w].pages.select(local[which == w]) for w in np.unique(which)]
    return PackedPages.concat(parts)

def hits(segs: list[Segment], values: np.ndarray, ids: np.ndarray) -> list[PageHit]:
    which, local = locate(segs, np.asarray(ids))
    out = []
    for v, w, i in zip(values, which, local):
        if not np.isfinite(v):
            continue  # a deleted page, only reachable when k exceeds the live pages
        row = segs[int(w)].rows[int(i)]
        out.append(PageHit(row["doc_id"], int(row["page_number"]), float(v), dict(row.get("metadata", {})),
                           page_id=str(row.get("page_id", ""))))
    return out


class SegmentSearch:
    """Searching, mixed into :class:`~.multivector.MultiVectorIndex` (which holds the state
    below and defines the members declared for type checking)."""

    if TYPE_CHECKING:
        _dtype: str
        _pending_cache: Segment | None
        _fde: FdeSidecars
        _screen: ScreenCopies

        @property
        def space(self) -> EmbeddingSpace: ...
        @property
        def dimension(self) -> int: ...
        @property
        def binary(self) -> bool: ...
        @property
        def binary_prefilter(self) -> int: ...
        _screen_pages_per_k: int | None
        def _all_segments(self) -> list[Segment]: ...

    def _segment_fde(self, seg: Segment) -> np.ndarray:
        return self._fde.fde(seg, saved=seg is not self._pending_cache)

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
        float32 scores), through the certified screen of
        :class:`~vertex_mm.late_interaction.ScreenedPages`: 16-bit integers on x86 CPUs with
        AVX2, bfloat16 on CPUs with AMX or where it is native and the integer kernel does not run
        (:func:`~vertex_mm.late_interaction.screened.screen_kind`); elsewhere, with
        ``compute="bfloat16"``, and for segments of fewer than :attr:`screen_pages_per_k` live
        pages per result it is the plain scan (the same answer). ``mode="binary"`` scores every page by
        Hamming-MaxSim over sign bits, then reranks each query's top ``candidates`` pages by
        float MaxSim (scores are then float MaxSim too); ``query_bits`` is passed to
        :func:`~vertex_mm.late_interaction.hamming_maxsim` (2, the default, scores every page
        with 2 bits; an opt-in :attr:`binary_prefilter` scores only each query's best pages by
        1-bit Hamming with them). ``mode="muvera"`` takes each query's
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
        q_list = split_queries(queries)
        segs = [s for s in self._all_segments() if s.live.any()]
        if not segs or not q_list:
            return [[] for _ in q_list]
        # Where no screen runs (no native bfloat16, no AVX2 integer kernel) the scan answers. An
        # index of small segments only never asks screen_kind(), which may import numba.
        per_k = self._screen_pages_per_k  # None: the default of the screen that runs
        least = min(DEFAULT_SCREEN_PAGES_PER_K, INT16_SCREEN_PAGES_PER_K) if per_k is None else per_k
        if mode == "screened":
            screen_choice()  # a misspelt VERTEX_MM_SCREEN is an error whatever the index's size
        big = mode == "screened" and compute == "float32" and any(int(s.live.sum()) >= least * k for s in segs)
        if big and (kind := screen_kind()) is not None:
            per_k = default_screen_pages_per_k(kind) if per_k is None else per_k
            vals, idx = self._screen.search(segs, self._pending_cache, q_list, int(k), per_k)
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
        n_pre = prefilter_size(live, max(n_cand, k), self.binary_prefilter, dim=self.dimension)
        if query_bits == 2 and n_pre:
            coarse = prefiltered_hamming(segs, q_list, n_pre)
        else:
            coarse = score_all(segs, lambda s: hamming_maxsim(q_list, s.binary, query_bits=query_bits))  # type: ignore[arg-type]
        return rerank(segs, q_list, coarse, max(n_cand, k), k, compute)

    def maxsim_scores(self, queries: Sequence[np.ndarray] | np.ndarray, *, compute: Compute = "float32") -> np.ndarray:
        """Float MaxSim of every query against every live page: ``(queries, pages)`` float32,
        columns in the order of :meth:`page_ids`."""
        q_list = split_queries(queries)
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
