"""Exact top-k by inner product: one fused pass of BLAS blocks with a running top-k.

Writing a full (queries x corpus) score matrix costs as much as computing it, and most of it is
thrown away. So the corpus is scanned in blocks that fit in cache: each block's scores come from
one ``sgemm``; the first block seeds a top-k per query with ``argpartition``; every later block
keeps only the scores above the query's current k-th best (``s > threshold``), which after the
first block is a handful per query, and merges them in one vectorised step. The result is exact:
a score can only be dropped when k better ones are already held.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exact_topk", "block_rows_for"]

# A block's score buffer (queries x rows float32) is kept near this size so it stays in cache.
_TARGET_BLOCK_BYTES = 4 * 1024 * 1024
_MIN_BLOCK, _MAX_BLOCK = 1024, 65536


def block_rows_for(n_queries: int) -> int:
    """Corpus rows per block: large for few queries (BLAS efficiency), smaller for many (cache)."""
    rows = _TARGET_BLOCK_BYTES // (4 * max(1, n_queries))
    return int(min(_MAX_BLOCK, max(_MIN_BLOCK, rows)))


def exact_topk(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    allowed: np.ndarray | None = None,
    block_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of ``vectors`` by inner product with each query.

    ``vectors`` is (n, d) float32 (a memory map is fine: it is read block by block),
    ``queries`` (q, d) float32, ``allowed`` an optional boolean row mask. Returns
    ``(scores, rows)``, both (q, k), best first; when fewer than k rows are allowed the tail is
    ``-inf`` / ``-1``.
    """
    nq = queries.shape[0]
    n = vectors.shape[0]
    scores = np.full((nq, k), -np.inf, dtype=np.float32)
    rows = np.full((nq, k), -1, dtype=np.int64)
    if nq == 0 or n == 0 or k == 0:
        return scores, rows
    q = np.ascontiguousarray(queries, dtype=np.float32)
    block = block_rows or block_rows_for(nq)
    buf = np.empty((nq, block), dtype=np.float32)
    mask_buf = np.empty((nq, block), dtype=bool)
    seeded = False
    # A short first block: seeding by argpartition costs in proportion to its width, while
    # the threshold it leaves only needs to be roughly right.
    seed_rows = min(block, max(_MIN_BLOCK, 64 * k))
    for start, stop in _spans(n, seed_rows, block):
        blk = vectors[start:stop]
        m = blk.shape[0]
        s = buf[:, :m]
        np.matmul(q, blk.T, out=s)
        if allowed is not None:
            s[:, ~allowed[start : start + m]] = -np.inf
        if not seeded:
            _seed(s, start, scores, rows)
            seeded = True
        else:
            _merge_above_threshold(s, start, scores, rows, mask_buf)
    return _sorted(scores, rows)


def _spans(n: int, first: int, step: int) -> list[tuple[int, int]]:
    spans = [(0, min(first, n))]
    spans += [(a, min(a + step, n)) for a in range(spans[0][1], n, step)]
    return spans


def _seed(s: np.ndarray, start: int, scores: np.ndarray, rows: np.ndarray) -> None:
    """Top-k of the first block by argpartition (the block may hold fewer than k rows)."""
    k = scores.shape[1]
    m = s.shape[1]
    if m <= k:
        scores[:, :m] = s
        rows[:, :m] = np.arange(start, start + m)
    else:
        part = _best_columns(s, None, k)
        scores[:] = np.take_along_axis(s, part, axis=1)
        rows[:] = part + start
    rows[scores == -np.inf] = -1


def _merge_above_threshold(s: np.ndarray, start: int, scores: np.ndarray, rows: np.ndarray,
                           mask_buf: np.ndarray) -> None:
    """Merge the block's scores that beat each query's k-th best into the running top-k."""
    threshold = scores.min(axis=1)
    above = np.greater(s, threshold[:, None], out=mask_buf[:, : s.shape[1]])
    if not above.any():  # the usual case once the top-k has settled
        return
    # flatnonzero + divmod: np.nonzero on a 2-D mask is ~10x slower than on its 1-D view.
    qi, ci = np.divmod(np.flatnonzero(above), s.shape[1])
    nq, k = scores.shape
    counts = np.bincount(qi, minlength=nq)
    width = int(counts.max())
    # np.nonzero walks row-major, so each query's candidates are contiguous: its j-th candidate
    # goes to column j of a padded (q, width) candidate matrix.
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    col = np.arange(qi.size) - first[qi]
    cand_s = np.full((nq, width), -np.inf, dtype=np.float32)
    cand_r = np.full((nq, width), -1, dtype=np.int64)
    cand_s[qi, col] = s[qi, ci]
    cand_r[qi, col] = ci + start
    live = counts > 0
    all_s = np.concatenate((scores[live], cand_s[live]), axis=1)
    all_r = np.concatenate((rows[live], cand_r[live]), axis=1)
    keep = _best_columns(all_s, all_r, k)
    scores[live] = np.take_along_axis(all_s, keep, axis=1)
    rows[live] = np.take_along_axis(all_r, keep, axis=1)


def _best_columns(s: np.ndarray, r: np.ndarray | None, k: int) -> np.ndarray:
    """Per row of ``s``, the columns of its ``k`` best scores, unordered. Where scores tie at
    the k-th place, the lowest row numbers are kept (``r[i, j]`` is column j's row; None: the
    column order is the row order): which of tied rows come back must not depend on k, or a
    larger k reorders the first hits."""
    m = s.shape[1]
    part = np.argpartition(s, m - k, axis=1)[:, m - k :]
    kept = np.take_along_axis(s, part, axis=1)
    kth = kept.min(axis=1, keepdims=True)
    # argpartition keeps an arbitrary subset of the ties: fix the (rare) rows where more
    # columns hold the k-th score than were kept. Ties of -inf are rows nobody returns.
    crossing = ((s == kth).sum(axis=1) > (kept == kth).sum(axis=1)) & np.isfinite(kth[:, 0])
    for i in np.flatnonzero(crossing):
        above = np.flatnonzero(s[i] > kth[i, 0])
        tied = np.flatnonzero(s[i] == kth[i, 0])
        if r is not None:
            tied = tied[np.argsort(r[i, tied], kind="stable")]
        part[i] = np.concatenate((above, tied[: k - above.size]))
    return part


def _sorted(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Best first; ties broken by row number so results are deterministic.
    order = np.lexsort((rows, -scores), axis=1) if scores.size else np.zeros(scores.shape, dtype=np.int64)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
