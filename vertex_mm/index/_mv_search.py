"""Search over a multi-vector index's segments: the modes and their knobs' defaults, scores of
every live page, candidates reranked by float MaxSim, and hits. Ids run over the segments'
rows in order (deleted pages included, scored ``-inf``), as :meth:`MultiVectorIndex.search`
hands them out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from ..late_interaction.binary import hamming_maxsim, hamming_maxsim_pairs
from ..late_interaction.maxsim import Compute, maxsim, top_k
from ..late_interaction.packed import PackedPages
from ._segments import Segment
from .results import PageHit

__all__ = [
    "DEFAULT_BINARY_PREFILTER", "DEFAULT_CANDIDATES", "DEFAULT_MODE", "DEFAULT_SCREEN_PAGES_PER_K", "SEARCH_MODES",
    "SearchMode", "gather", "hits", "locate", "prefiltered_hamming", "query_list", "rerank", "score_all",
]

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


def query_list(queries: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    return [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
