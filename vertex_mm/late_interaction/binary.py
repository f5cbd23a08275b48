"""1-bit multi-vector pages and Hamming-MaxSim, the cheap candidate stage of a two-stage search.

Each vector keeps only the sign of each dimension: a 128-d ColPali vector becomes 16 bytes
(two ``uint64`` words), 1/32 of its float32 size. For sign vectors ``a, b`` in {-1, +1}^d,
``<a, b> = d - 2 * hamming(a, b)``, so MaxSim over sign vectors is

    score(q, p) = sum_i (d - 2 * min_j hamming(q_i, p_j))

which needs only XOR and popcount. Queries are tiny, so by default they keep a second bit per
dimension (``query_bits=2``: strong dimensions weigh twice in the Hamming distance), which
ranks weakly matching pages much higher at no storage cost; ``query_bits=1`` is the plain
symmetric form above. The kernels are compiled with numba when it is installed (every
(query token, page token) pair costs a few XORs and popcounts, vectorised across query
tokens). Without numba a blocked numpy ``bitwise_count`` computes the same integers, slowly.

Sign vectors keep the angle only roughly, so this stage ranks candidates; a full-precision
MaxSim over the top candidates (:func:`two_stage_search`) gives the final order.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .packed import PackedPages, as_packed, check_offsets, pack_queries

__all__ = [
    "BinaryPages",
    "binarize",
    "hamming_maxsim",
    "hamming_maxsim_numpy",
    "hamming_maxsim_pairs",
    "has_fast_kernel",
    "prefilter_size",
    "query_codes",
    "two_stage_search",
]


def binarize(vectors: np.ndarray) -> np.ndarray:
    """Sign bits of ``(n, d)`` vectors, packed into ``(n, ceil(d / 64))`` uint64 words.

    Bit ``k`` is 1 where component ``k`` is > 0. Dimensions past ``d`` in the last word are 0 for
    every vector, so they never count in a Hamming distance.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise InputError(f"binarize expects (n, d) vectors, got shape {vectors.shape}", input_name="vectors")
    n, d = vectors.shape
    words = -(-d // 64)
    bits = np.packbits(vectors > 0, axis=1, bitorder="little")  # (n, ceil(d/8)) uint8
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, : bits.shape[1]] = bits
    return padded.view(np.uint64).reshape(n, words)


@dataclass(frozen=True)
class BinaryPages:
    """Sign codes of packed pages: ``codes`` ``(total_tokens, words)`` uint64 plus ``offsets``."""

    codes: np.ndarray
    offsets: np.ndarray
    dim: int

    def __post_init__(self) -> None:
        # The compiled kernels index ``codes`` by these offsets without bounds checks, so a
        # mismatch here would read outside the array: refuse it once, at construction, and
        # keep every query free of checks.
        words = -(-self.dim // 64) if self.dim > 0 else 0
        if words == 0 or self.codes.ndim != 2 or self.codes.dtype != np.uint64 or self.codes.shape[1] != words:
            raise ValueError(f"codes must be (tokens, {max(words, 1)}) uint64 for dimension {self.dim}, "
                             f"got {self.codes.dtype} {self.codes.shape}")
        check_offsets(self.offsets, self.codes.shape[0])

    @classmethod
    def from_pages(cls, pages: PackedPages | Sequence[np.ndarray]) -> "BinaryPages":
        packed = as_packed(pages)
        return cls(binarize(packed.tokens), packed.offsets, packed.dim)

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def select(self, indices: Sequence[int] | np.ndarray) -> "BinaryPages":
        """A new set holding the given pages' codes, in the given order (copies their rows)."""
        idx = np.asarray(indices, dtype=np.int64)
        starts, ends = self.offsets[idx], self.offsets[idx + 1]
        offsets = np.zeros(idx.size + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=offsets[1:])
        rows = np.repeat(starts - offsets[:-1], ends - starts) + np.arange(int(offsets[-1]))
        return BinaryPages(self.codes[rows], offsets, self.dim)

    @property
    def bytes_per_page(self) -> float:
        return self.codes.nbytes / max(len(self), 1)


# --- kernels -----------------------------------------------------------------------------------

_KERNEL: Any = None
_KERNEL_TRIED = False


def _kernel() -> Any:
    global _KERNEL, _KERNEL_TRIED
    if not _KERNEL_TRIED:
        _KERNEL_TRIED = True
        try:
            from ._hamming_kernel import min_hamming

            _KERNEL = min_hamming
        except ImportError:
            _KERNEL = None
    return _KERNEL


#: Pages per block of the compiled Hamming stage: a thread takes the next block when it is
#: done with one (a few milliseconds of work each at ColPali sizes).
PAGE_BLOCK = 512
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool_after_fork() -> None:
    # A forked child inherits the executor but not its threads: it would wait on them forever.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _pool() -> ThreadPoolExecutor:
    """The threads the Hamming stage and the rerank share (created once, under a lock)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2), thread_name_prefix="vertex-mm-hamming")
        return _POOL


def _in_blocks(run: Callable[[int, int], None], n_pages: int, threads: int) -> None:
    """``run(start, stop)`` over blocks of :data:`PAGE_BLOCK` pages on ``threads`` threads (the
    caller's and pool threads; the kernel releases the GIL). Blocks are handed out one at a
    time, not split evenly up front: on a shared machine a thread the OS sets aside then holds
    up one block, not its half of the pages, which made two threads slower than one."""
    if threads <= 1 or n_pages <= PAGE_BLOCK:
        run(0, n_pages)
        return
    next_block = itertools.count()  # next() on a count is atomic under the GIL

    def work() -> None:
        while (start := next(next_block) * PAGE_BLOCK) < n_pages:
            run(start, min(start + PAGE_BLOCK, n_pages))

    helpers = [_pool().submit(work) for _ in range(threads - 1)]
    work()
    for f in helpers:
        f.result()


def has_fast_kernel() -> bool:
    """True when numba is installed and the compiled Hamming kernel is used."""
    return _kernel() is not None


def _min_hamming_numpy(q_codes: np.ndarray, q_masks: np.ndarray, codes: np.ndarray, offsets: np.ndarray,
                       block: int = 4096) -> np.ndarray:
    """Same integers as the numba kernels: ``(pages, query_tokens)`` minimum weighted Hamming."""
    n_pages = offsets.shape[0] - 1
    out = np.empty((n_pages, q_codes.shape[0]), np.int32)
    p = 0
    while p < n_pages:
        # Pages in this block: as many as fit in ``block`` rows (at least one).
        end = p + 1
        while end < n_pages and offsets[end + 1] - offsets[p] <= block:
            end += 1
        rows = codes[offsets[p] : offsets[end]]
        x = q_codes[:, None, :] ^ rows[None, :, :]
        weighted = np.bitwise_count(x & q_masks[:, None, :]).sum(axis=2, dtype=np.int32)
        dist = np.bitwise_count(x).sum(axis=2, dtype=np.int32) + weighted
        starts = (offsets[p:end] - offsets[p]).astype(np.intp)
        out[p:end] = np.minimum.reduceat(dist, starts, axis=1).T
        p = end
    return out


def query_codes(queries: Sequence[np.ndarray] | np.ndarray, dim: int,
                query_bits: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sign codes, weight masks and owning query of every real query token.

    ``query_bits=2`` sets a mask bit on the half of each token's dimensions with the largest
    magnitude; those dimensions count twice in the Hamming distance. ``query_bits=1`` gives
    all-zero masks (plain Hamming).
    """
    if query_bits not in (1, 2):
        raise InputError(f"query_bits must be 1 or 2, got {query_bits!r}", input_name="query_bits")
    q_pad, q_mask = pack_queries(queries, dim=dim)
    real = q_pad[q_mask]  # only real tokens: a zero padding token would still cost d/2 bits
    owner = np.repeat(np.arange(q_pad.shape[0]), q_mask.sum(axis=1))
    if query_bits == 1:
        masks = np.zeros((real.shape[0], -(-dim // 64)), dtype=np.uint64)
    else:
        mag = np.abs(real)
        masks = binarize(mag - np.median(mag, axis=1, keepdims=True))
    return binarize(real), masks, owner


def hamming_maxsim(
    queries: Sequence[np.ndarray] | np.ndarray,
    pages: BinaryPages,
    *,
    query_bits: int = 2,
    use_numba: bool | None = None,
) -> np.ndarray:
    """Hamming-MaxSim of float queries against sign-coded pages: ``(queries, pages)`` float32.

    Pages are always 1 bit per dimension. ``query_bits=1`` binarises the query too and scores
    ``sum_i (d - 2 * min_j hamming(q_i, p_j))``: MaxSim over ±1 vectors. ``query_bits=2``
    (default) keeps one magnitude bit per query dimension: dimensions where the query is
    strong weigh 2, the rest 1, i.e. ``sum_i (W_i - 2 * min_j weighted_hamming)`` with ``W_i``
    the token's total weight. The query is tiny, so this costs no storage; it costs ~1.5x the
    popcounts and, on weak matches, ranks the right page far higher (see the benchmark).
    ``use_numba=None`` uses numba when installed.
    """
    q_codes, q_masks, owner = query_codes(queries, pages.dim, query_bits)
    kernel = _kernel() if use_numba in (None, True) else None
    if use_numba and kernel is None:
        from .._optional import require

        require("local", "numba", what="use_numba=True")
    weight = pages.dim + np.bitwise_count(q_masks).sum(axis=1, dtype=np.int64)  # W_i per query token
    n_queries = int(owner.max()) + 1
    if kernel is not None and q_codes.shape[1] == 2:
        # ColPali's 128-d codes: one fused pass scores every query, summing per query in the
        # kernel. The sums are small integers, exact in float32: the same values as below.
        from ._hamming_kernel import SIMD_TOKENS, hamming_maxsim_2words_range, thread_count

        # Pad the stacked tokens to whole SIMD registers (copies of token 0, never summed).
        take = np.concatenate([np.arange(len(owner)), np.zeros(-len(owner) % SIMD_TOKENS, np.int64)])
        w, m = np.ascontiguousarray(q_codes[take].T), np.ascontiguousarray(q_masks[take].T)
        q_starts = np.searchsorted(owner, np.arange(n_queries + 1)).astype(np.int64)
        sums = np.empty((n_queries, len(pages)), np.int32)
        args = (w[0], w[1], m[0], m[1], weight[take], q_starts, pages.codes, pages.offsets, query_bits == 2, sums)
        _in_blocks(lambda start, stop: hamming_maxsim_2words_range(*args, start, stop), len(pages), thread_count())
        scores: np.ndarray = sums.astype(np.float32)
        return scores
    if kernel is None:
        mins = _min_hamming_numpy(q_codes, q_masks, pages.codes, pages.offsets)
    else:
        mins = kernel(np.ascontiguousarray(q_codes.T), np.ascontiguousarray(q_masks.T), pages.codes, pages.offsets)
    sims = (weight[None, :] - 2 * mins).astype(np.float32)  # (P, query tokens)
    out = np.zeros((n_queries, len(pages)), dtype=np.float32)
    np.add.at(out, owner, sims.T)
    return out


def hamming_maxsim_pairs(
    queries: Sequence[np.ndarray] | np.ndarray,
    pages: BinaryPages,
    page_ids: np.ndarray,
    *,
    query_bits: int = 2,
    use_numba: bool | None = None,
) -> np.ndarray:
    """Hamming-MaxSim of each query against its own pages: ``page_ids`` is ``(queries, n)``
    page indices, the result ``(queries, n)`` float32, ``out[i, r]`` being
    ``hamming_maxsim(queries, pages)[i, page_ids[i, r]]`` (the same integers). The 2-bit stage of
    a prefiltered search: with the compiled kernel every (query, page) pair is one work item,
    spread over the Hamming stage's threads; without it, one numpy pass per query.
    """
    q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
    ids = np.asarray(page_ids, dtype=np.int64)
    if ids.ndim != 2 or ids.shape[0] != len(q_list):
        raise InputError(f"page_ids must be (queries={len(q_list)}, n) page indices, got shape {ids.shape}",
                         input_name="page_ids")
    if ids.size and (ids.min() < 0 or ids.max() >= len(pages)):
        raise InputError(f"page_ids must lie in 0..{len(pages) - 1}, got {ids.min()}..{ids.max()}", input_name="page_ids")
    kernel = _kernel() if use_numba in (None, True) else None
    if kernel is None or -(-pages.dim // 64) != 2 or not q_list:
        return np.stack([hamming_maxsim([q], pages.select(row), query_bits=query_bits, use_numba=use_numba)[0]
                         for q, row in zip(q_list, ids)]) if q_list else np.zeros((0, ids.shape[1]), np.float32)
    from ._hamming_kernel import SIMD_TOKENS, hamming_maxsim_2words_pairs, thread_count

    q_codes, q_masks, owner = query_codes(q_list, pages.dim, query_bits)
    weight = pages.dim + np.bitwise_count(q_masks).sum(axis=1, dtype=np.int64)
    # Each query's tokens padded to whole SIMD registers (copies of its first token, never summed).
    real = np.bincount(owner, minlength=len(q_list)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(real)[:-1]]).astype(np.int64)
    padded = real + (-real % SIMD_TOKENS)
    q_starts = np.concatenate([[0], np.cumsum(padded)]).astype(np.int64)
    take = np.concatenate([np.concatenate([f + np.arange(n), np.full(m - n, f)]) for f, n, m in zip(first, real, padded)])
    take = take.astype(np.int64)
    w, m = np.ascontiguousarray(q_codes[take].T), np.ascontiguousarray(q_masks[take].T)
    n = ids.shape[1]
    # Pairs in page order within each query: a query's survivors are read front to back.
    order = np.argsort(ids, axis=1, kind="stable")
    pair_page = np.ascontiguousarray(np.take_along_axis(ids, order, axis=1).ravel())
    pair_query = np.repeat(np.arange(len(q_list), dtype=np.int64), n)
    sums = np.empty(pair_page.size, np.int32)
    args = (w[0], w[1], m[0], m[1], weight[take], q_starts, real, pages.codes, pages.offsets, pair_query, pair_page,
            query_bits == 2, sums)
    _in_blocks(lambda start, stop: hamming_maxsim_2words_pairs(*args, start, stop), pair_page.size, thread_count())
    out = np.empty(ids.shape, np.float32)
    np.put_along_axis(out, order, sums.reshape(ids.shape).astype(np.float32), axis=1)
    return out


def hamming_maxsim_numpy(queries: Sequence[np.ndarray] | np.ndarray, pages: BinaryPages, query_bits: int = 2) -> np.ndarray:
    """:func:`hamming_maxsim` without numba (for comparison and tests)."""
    return hamming_maxsim(queries, pages, query_bits=query_bits, use_numba=False)


def two_stage_search(
    queries: Sequence[np.ndarray] | np.ndarray,
    binary: BinaryPages,
    pages: PackedPages,
    k: int,
    *,
    candidates: int = 64,
    compute: str = "float32",
    query_bits: int = 2,
    prefilter: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hamming-MaxSim over all pages, then float MaxSim over each query's top ``candidates``.

    Returns ``(scores, page indices)``, each ``(queries, k)``, best first; scores are full
    precision MaxSim. ``binary`` and ``pages`` must describe the same pages in the same order
    (``pages`` may be a memory map: only the candidates' rows are read).
    """
    from .maxsim import top_k

    if len(binary) != len(pages):
        raise InputError(f"binary codes hold {len(binary)} pages but float pages hold {len(pages)}", input_name="pages")
    q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
    n_cand = max(min(candidates, len(pages)), min(k, len(pages)))
    n_pre = prefilter_size(len(pages), n_cand, prefilter) if query_bits == 2 else 0
    if n_pre:
        _, pre = top_k(hamming_maxsim(q_list, binary, query_bits=1), n_pre)
        _, local = top_k(hamming_maxsim_pairs(q_list, binary, pre, query_bits=2), n_cand)
        cand = np.take_along_axis(pre, local, axis=1)
    else:
        _, cand = top_k(hamming_maxsim(q_list, binary, query_bits=query_bits), n_cand)
    return _rerank(q_list, cand, pages, min(k, len(pages)), compute)


#: With 2-bit queries, :func:`two_stage_search` first ranks every page by plain 1-bit Hamming
#: (half the popcounts) and scores only each query's best ``PREFILTER_PER_CANDIDATE *
#: candidates`` pages with the 2-bit weights; ``MultiVectorIndex.binary_prefilter`` sets a floor
#: on top of the same rule.
PREFILTER_PER_CANDIDATE = 8


def prefilter_size(n_pages: int, candidates: int, prefilter: int | None = None) -> int:
    """Pages per query kept by the 1-bit prefilter of a 2-bit search; 0 means no prefilter
    (2-bit over every page). ``prefilter=None`` is ``PREFILTER_PER_CANDIDATE * candidates``;
    a given ``prefilter`` is raised to that too (fewer would cut into the candidates), and
    ``0`` turns the prefilter off. No prefilter when it would keep every page."""
    if prefilter is not None and (isinstance(prefilter, bool) or not isinstance(prefilter, (int, np.integer)) or prefilter < 0):
        raise InputError(f"prefilter must be an integer >= 0 or None, got {prefilter!r}", input_name="prefilter")
    if prefilter == 0:
        return 0
    n = max(int(prefilter or 0), PREFILTER_PER_CANDIDATE * int(candidates))
    return n if n < n_pages else 0


def _rerank(q_list: list[np.ndarray], cand: np.ndarray, pages: PackedPages, k_out: int,
            compute: str) -> tuple[np.ndarray, np.ndarray]:
    """Float MaxSim of each query over its own candidate pages, then its top ``k_out``.

    The arithmetic is :func:`~vertex_mm.late_interaction.maxsim.maxsim`'s, op for op (the same
    :func:`token_maxima` over blocks of the same float32 rows, the same per-page sum), so
    scores are bit for bit what ``maxsim(q, pages, page_ids=ids)`` gives (each product at
    least :data:`~.maxsim.MIN_PRODUCT_SIDE` wide, whose elements have the same bits whatever
    the shape and the thread count). Queries are packed and checked once for the batch.
    Queries run on several threads at once (:func:`on_query_threads`).
    """
    q_pad, q_mask = pack_queries(q_list, dim=pages.dim)  # checks every query once
    cand = np.sort(cand, axis=1)  # sorted candidates make the gather read a memory map front to back
    scores = np.empty((len(q_list), k_out), np.float32)
    index = np.empty((len(q_list), k_out), np.int64)
    on_query_threads(len(q_list), lambda: _rerank_queries(q_pad, q_mask, cand, pages, k_out, compute, scores, index))
    return scores, index


@functools.cache
def _per_thread_torch_threads() -> bool:
    """Whether torch's thread count is set per calling thread (OpenMP builds): checked once
    by setting it to 1 in a pool thread; where that changed this thread's count too, it is
    put back and reranks run one query after the other."""
    from .maxsim import _torch

    torch = _torch()
    before = torch.get_num_threads()

    def one() -> int:
        torch.set_num_threads(1)
        return int(torch.get_num_threads())

    ok = _pool().submit(one).result() == 1 and torch.get_num_threads() == before
    if not ok:
        torch.set_num_threads(before)
    return ok


def on_query_threads(n: int, make_work: Callable[[], Callable[[int], None]]) -> None:
    """``work(i)`` for every ``i < n``, handed out one at a time to torch's thread count of
    threads (this one and pool threads), each with torch on one thread and its own ``work =
    make_work()`` (a rerank buffer, say). Products of one query's 20 tokens by a few dozen
    pages split badly across threads: two queries at once on one thread each took 0.7x the
    time of one after the other on two. torch's count is per calling thread (checked once by
    :func:`_per_thread_torch_threads`) and the caller's is restored."""
    from .maxsim import _torch

    torch = _torch()
    counter = itertools.count()  # next() on a count is atomic under the GIL

    def loop() -> None:
        work = make_work()
        with torch.inference_mode():  # per thread, like torch's thread count
            while (i := next(counter)) < n:
                work(i)

    threads = min(int(torch.get_num_threads()), n)
    if threads <= 1 or not _per_thread_torch_threads():
        loop()
        return

    def one_torch_thread() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            loop()
        finally:
            torch.set_num_threads(before)

    helpers = [_pool().submit(one_torch_thread) for _ in range(threads - 1)]
    one_torch_thread()
    for f in helpers:
        f.result()


#: Float rows widened and multiplied at a time by the rerank (2 MiB of float32 at 128-d): a
#: block freshly widened into a buffer this size is still in cache when the product reads it.
#: One 33k-row block per query (all 32 candidates) ran the product at ~40 GFLOP/s; blocks of
#: four ColPali pages at ~64 (benchmarks/bench_maxsim.py, 1.8x faster rerank).
RERANK_BLOCK_TOKENS = 4096


def _rerank_queries(q_pad: np.ndarray, q_mask: np.ndarray, cand: np.ndarray, pages: PackedPages, k_out: int,
                    compute: str, scores: np.ndarray, index: np.ndarray) -> Callable[[int], None]:
    """One thread's ``work(i)`` for :func:`on_query_threads`: rerank query ``i`` (see :func:`_rerank`)."""
    from .maxsim import _as_tensor, _blocks, _torch, _torch_dtype, token_maxima, top_k

    torch = _torch()
    dtype = _torch_dtype(compute)
    lengths_all = pages.lengths
    # Widening float16 rows straight into one reused float32 buffer, page slice by page slice,
    # a block of pages at a time, skips maxsim's gathered float16 copy and keeps the widened
    # rows in cache for the product. Exact: float16 -> float32 is lossless, so the rows handed
    # to the product are the same.
    direct = compute == "float32" and pages.tokens.dtype in (np.float16, np.float32) and pages.tokens.flags.c_contiguous
    src: Any = _as_tensor(pages.tokens) if direct else None
    longest = int(lengths_all[cand].max()) if cand.size else 0
    buf = torch.empty((max(RERANK_BLOCK_TOKENS, longest) if direct else 0, pages.dim), dtype=torch.float32)

    def work(i: int) -> None:
        n_tok = int(q_mask[i].sum())
        q_t = torch.from_numpy(np.ascontiguousarray(q_pad[i, :n_tok])).to(dtype).T.contiguous()  # (dim, n)
        ids = cand[i]
        lengths = lengths_all[ids]
        if direct:
            best = torch.empty((ids.size, n_tok), dtype=torch.float32)
            starts = pages.offsets[ids].tolist()
            for p0, p1 in _blocks(lengths, RERANK_BLOCK_TOKENS):
                offsets = np.zeros(p1 - p0 + 1, np.int64)
                np.cumsum(lengths[p0:p1], out=offsets[1:])
                for s0, a, b in zip(starts[p0:p1], offsets[:-1].tolist(), offsets[1:].tolist()):
                    buf[a:b].copy_(src[s0 : s0 + b - a])
                n_rows = int(offsets[-1])
                best[p0:p1] = token_maxima(q_t, buf[:n_rows], offsets, lengths[p0:p1], n_rows)
        else:
            offsets = np.zeros(ids.size + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            best = token_maxima(q_t, _as_tensor(pages.select(ids).tokens), offsets, lengths, int(offsets[-1]))
        s = best.view(ids.size, 1, n_tok).sum(-1).T.contiguous().numpy()
        top_s, local = top_k(s, k_out)
        scores[i], index[i] = top_s[0], ids[local[0]]

    return work
