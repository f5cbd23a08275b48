"""The numba-compiled Hamming-MaxSim kernel (imported only when numba is installed).

Module-level ``njit(cache=True)`` functions: the compiled code is cached beside this file, so
only the first process on a machine pays the ~5 s compile. :func:`hamming_maxsim_2words_range` is
the one the two-stage search uses (128-d codes, all queries in one pass, per-query sums in the
kernel, one block of pages per call and thread); :func:`min_hamming_range` serves other code widths.

Measured and not kept: eight page tokens per pass instead of four (no faster), and a
carry-save form with three popcounts per pair instead of four (no faster through the LLVM
``ctpop`` intrinsic, 2x slower through the SWAR idiom): the loop is bound by its total vector
op count, not by the popcounts alone.
"""

from __future__ import annotations

import os
from typing import Any

import numba as nb
import numpy as np

# numba's default OpenMP layer keeps its worker threads spinning after a kernel, next to
# torch's own OpenMP pool: on a 2-core machine the float rerank that follows the Hamming stage
# then ran ~100x slower. The workqueue layer's threads sleep when idle. No kernel here has a
# parallel region any more (threads come from the project's pool), but thread_count() asks
# numba, which starts its layer's threads: let them be the sleeping kind. An explicit
# NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    nb.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]  # numba.config sets it at import

__all__ = ["SIMD_TOKENS", "hamming_maxsim_2words_pairs", "hamming_maxsim_2words_range", "min_hamming_range",
           "thread_count"]



def _simd_tokens() -> int:
    """64-bit lanes in one vector register of the CPU numba compiles for: 8 with AVX-512, else 4.

    With AVX2 (4 lanes) a 20-token query needs no padding, and padding it to 24 cost 20 %: one
    query over 3,000 pages of 343 tokens took 11.0 ms at 20 tokens and 13.2 ms at 24 (one thread,
    AMD EPYC Zen 3); on AVX-512 24 tokens ran faster than 20 (below)."""
    from ._host_cpu import host_cpu_has

    # Unknown flags: the AVX-512 width, correct either way.
    return 4 if host_cpu_has("avx512f") is False else 8


#: Query tokens are padded to a multiple of this: one vector register of 64-bit lanes.
SIMD_TOKENS = _simd_tokens()


def thread_count() -> int:
    """Threads the Hamming stage may use: numba's setting (``NUMBA_NUM_THREADS``,
    ``numba.set_num_threads``; every core by default)."""
    return int(nb.get_num_threads())


@nb.njit(inline="always", cache=True)
def _popcount64(x: Any) -> Any:
    # LLVM recognises this SWAR idiom and emits a hardware popcount (VPOPCNTQ on AVX-512).
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@nb.njit(fastmath=True, cache=True, nogil=True)
def min_hamming_range(q_words: Any, q_masks: Any, codes: Any, offsets: Any, out: Any, start: Any, stop: Any) -> None:
    """Fill ``out[start:stop]``, ``(pages, query_tokens)`` int32, with the minimum (weighted)
    Hamming distance of each query token to pages ``start:stop``: ``popcount(q ^ c) +
    popcount((q ^ c) & mask)``; zero masks give plain Hamming. One thread, without the GIL
    (callers hand blocks of pages to threads, as for :func:`hamming_maxsim_2words_range`: a
    numba ``parallel`` loop here aborted the process when two threads searched at once, as
    numba's workqueue threading layer does on concurrent parallel regions).

    ``q_words``/``q_masks`` are ``(words, query_tokens)``: the inner loop runs across query
    tokens, so it vectorises with one page word broadcast against many query words.
    """
    n_words, n_q = q_words.shape
    best = np.empty(n_q, np.int32)
    acc = np.empty(n_q, np.int32)
    for p in range(start, stop):
        best[:] = 1 << 30
        for j in range(offsets[p], offsets[p + 1]):
            c0 = codes[j, 0]
            for i in range(n_q):
                x = q_words[0, i] ^ c0
                acc[i] = np.int32(_popcount64(x) + _popcount64(x & q_masks[0, i]))
            for w in range(1, n_words):
                cw = codes[j, w]
                for i in range(n_q):
                    x = q_words[w, i] ^ cw
                    acc[i] += np.int32(_popcount64(x) + _popcount64(x & q_masks[w, i]))
            for i in range(n_q):
                if acc[i] < best[i]:
                    best[i] = acc[i]
        out[p] = best


# --- fused Hamming-MaxSim: per-query sums straight from the kernel --------------------------


@nb.njit(inline="always", cache=True)
def _wh(x0: Any, x1: Any, m0: Any, m1: Any) -> Any:
    """Weighted Hamming distance of a two-word XOR: bits under the mask count twice."""
    return np.int64(_popcount64(x0) + _popcount64(x1) + _popcount64(x0 & m0) + _popcount64(x1 & m1))


@nb.njit(inline="always", cache=True)
def _h2(x0: Any, x1: Any) -> Any:
    return np.int64(_popcount64(x0) + _popcount64(x1))


@nb.njit(inline="always", cache=True)
def _page_mins_weighted(q0: Any, q1: Any, m0: Any, m1: Any, codes: Any, j: Any, end: Any, best: Any) -> None:
    """Lower ``best[i]`` to the min weighted Hamming distance of query token ``i`` to rows
    ``j:end``: four page tokens per pass, so each query word is loaded once per four rows.
    (Weighted and plain are separate loops so neither tests a flag per pair.)"""
    n_q = q0.shape[0]
    while j + 3 < end:
        a0, a1 = codes[j, 0], codes[j, 1]
        b0, b1 = codes[j + 1, 0], codes[j + 1, 1]
        c0, c1 = codes[j + 2, 0], codes[j + 2, 1]
        d0, d1 = codes[j + 3, 0], codes[j + 3, 1]
        for i in range(n_q):
            x0, x1, k0, k1 = q0[i], q1[i], m0[i], m1[i]
            ha = _wh(x0 ^ a0, x1 ^ a1, k0, k1)
            hb = _wh(x0 ^ b0, x1 ^ b1, k0, k1)
            hc = _wh(x0 ^ c0, x1 ^ c1, k0, k1)
            hd = _wh(x0 ^ d0, x1 ^ d1, k0, k1)
            best[i] = min(best[i], min(min(ha, hb), min(hc, hd)))
        j += 4
    while j < end:
        a0, a1 = codes[j, 0], codes[j, 1]
        for i in range(n_q):
            best[i] = min(best[i], _wh(q0[i] ^ a0, q1[i] ^ a1, m0[i], m1[i]))
        j += 1


@nb.njit(inline="always", cache=True)
def _page_mins_plain(q0: Any, q1: Any, codes: Any, j: Any, end: Any, best: Any) -> None:
    """:func:`_page_mins_weighted` without masks: plain Hamming, two popcounts per pair."""
    n_q = q0.shape[0]
    while j + 3 < end:
        a0, a1 = codes[j, 0], codes[j, 1]
        b0, b1 = codes[j + 1, 0], codes[j + 1, 1]
        c0, c1 = codes[j + 2, 0], codes[j + 2, 1]
        d0, d1 = codes[j + 3, 0], codes[j + 3, 1]
        for i in range(n_q):
            x0, x1 = q0[i], q1[i]
            ha = _h2(x0 ^ a0, x1 ^ a1)
            hb = _h2(x0 ^ b0, x1 ^ b1)
            hc = _h2(x0 ^ c0, x1 ^ c1)
            hd = _h2(x0 ^ d0, x1 ^ d1)
            best[i] = min(best[i], min(min(ha, hb), min(hc, hd)))
        j += 4
    while j < end:
        a0, a1 = codes[j, 0], codes[j, 1]
        for i in range(n_q):
            best[i] = min(best[i], _h2(q0[i] ^ a0, q1[i] ^ a1))
        j += 1


@nb.njit(fastmath=True, cache=True, nogil=True)
def hamming_maxsim_2words_range(q0: Any, q1: Any, m0: Any, m1: Any, weight: Any, q_starts: Any, codes: Any,
                                offsets: Any, weighted: bool, out: Any, start: Any, stop: Any) -> None:
    """Fill ``out[:, start:stop]`` with the ``(queries, pages)`` Hamming-MaxSim of pages
    ``start:stop`` for two-word codes, every query in one pass; one thread, without the GIL
    (:func:`vertex_mm.late_interaction.binary.hamming_maxsim` runs blocks of pages on several
    threads, each taking the next block when it is done: a thread the OS puts aside on a busy
    machine then holds up one block, not half the pages).

    Query tokens of all queries are stacked (``q_starts`` delimits each query's tokens), so a
    page's codes are read once for the whole batch; each token's score ``weight[i] - 2 * min``
    is summed per query here instead of in a numpy scatter afterwards. ``weighted=False``
    ignores the masks (plain Hamming, two popcounts per pair). ``q0`` ... ``m1`` may hold more
    tokens than ``q_starts`` covers: callers pad the token count to a multiple of the SIMD
    width (:data:`SIMD_TOKENS` words), so that the inner loop has no scalar remainder (20 query
    tokens ran as two 8-lane iterations plus four scalar ones, slower than 24 tokens); the
    padding tokens' minima are computed and never summed. Within a page the query words (a
    few hundred bytes) and the page's codes stay in L1.
    """
    n_queries = q_starts.shape[0] - 1
    best = np.empty(q0.shape[0], np.int64)
    for p in range(start, stop):
        best[:] = 1 << 30
        if weighted:
            _page_mins_weighted(q0, q1, m0, m1, codes, offsets[p], offsets[p + 1], best)
        else:
            _page_mins_plain(q0, q1, codes, offsets[p], offsets[p + 1], best)
        for g in range(n_queries):
            acc = np.int64(0)
            for i in range(q_starts[g], q_starts[g + 1]):
                acc += weight[i] - 2 * best[i]
            out[g, p] = np.int32(acc)



@nb.njit(fastmath=True, cache=True, nogil=True)
def hamming_maxsim_2words_pairs(q0: Any, q1: Any, m0: Any, m1: Any, weight: Any, q_starts: Any, q_real: Any,
                                codes: Any, offsets: Any, pair_query: Any, pair_page: Any, weighted: bool,
                                out: Any, start: Any, stop: Any) -> None:
    """``out[r]`` = Hamming-MaxSim of query ``pair_query[r]`` and page ``pair_page[r]`` for
    ``r`` in ``start:stop`` (two-word codes, one thread, without the GIL): the 2-bit stage of a
    prefiltered search, where each query scores its own surviving pages.

    Query ``g``'s tokens are ``q_starts[g]:q_starts[g + 1]``, padded by the caller to a multiple
    of :data:`SIMD_TOKENS` (the padding tokens' minima are computed and never summed); its
    first ``q_real[g]`` tokens are real. The integers are those of
    :func:`hamming_maxsim_2words_range` for the same query and page.
    """
    best = np.empty(q0.shape[0], np.int64)
    for r in range(start, stop):
        g, p = pair_query[r], pair_page[r]
        a, b = q_starts[g], q_starts[g + 1]
        best[a:b] = 1 << 30
        if weighted:
            _page_mins_weighted(q0[a:b], q1[a:b], m0[a:b], m1[a:b], codes, offsets[p], offsets[p + 1], best[a:b])
        else:
            _page_mins_plain(q0[a:b], q1[a:b], codes, offsets[p], offsets[p + 1], best[a:b])
        acc = np.int64(0)
        for i in range(a, a + q_real[g]):
            acc += weight[i] - 2 * best[i]
        out[r] = np.int32(acc)
