"""1-bit multi-vector pages and Hamming-MaxSim, the cheap candidate stage of a two-stage search.

Each vector keeps only the sign of each dimension: a 128-d ColPali vector becomes 16 bytes
(two ``uint64`` words), 1/32 of its float32 size. For sign vectors ``a, b`` in {-1, +1}^d,
``<a, b> = d - 2 * hamming(a, b)``, so MaxSim over sign vectors is

    score(q, p) = sum_i (d - 2 * min_j hamming(q_i, p_j))

which needs only XOR and popcount. Queries are tiny, so by default they keep a second bit per
dimension (``query_bits=2``: strong dimensions weigh twice in the Hamming distance), which
ranks weakly matching pages much higher at no storage cost; ``query_bits=1`` is the plain
symmetric form above. The kernels are compiled with numba when it is installed: on AVX2
CPUs without a vector popcount, 128-bit codes go through nibble tables (:mod:`._nibble_kernel`,
2-2.4x the popcount kernel's 1-bit pass there and 2.8-3.6x its 2-bit pass: 2 bits cost what 1 does); elsewhere
every (query token, page token) pair costs a few XORs and popcounts, vectorised across query
tokens. Without numba a blocked numpy ``bitwise_count`` computes the same integers, slowly.

Sign vectors keep the angle only roughly, so this stage ranks candidates; a full-precision
MaxSim over the top candidates (:func:`two_stage_search`) gives the final order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import InputError
from ._kernel_choice import KERNEL_ENV, hamming_kernel, has_fast_kernel, nibble_runs, popcount_kernel
from ._rerank import rerank
from ._threads import in_blocks
from .int16_screen import Int16Screen
from .packed import PackedPages, as_packed, check_offsets, gather_rows, int_at_least, pack_queries

__all__ = [
    "KERNEL_ENV",
    "BinaryPages",
    "binarize",
    "check_query_bits",
    "hamming_maxsim",
    "hamming_maxsim_numpy",
    "hamming_maxsim_pairs",
    "hamming_kernel",
    "has_fast_kernel",
    "nibble_runs",
    "prefilter_size",
    "prefiltered_candidates",
    "query_codes",
    "two_stage_search",
]


#: Rows :func:`binarize` reads at a time.
_BINARIZE_ROWS = 1 << 14


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
    out = np.zeros((n, words * 8), dtype=np.uint8)
    # In chunks of rows: the temporaries stay small and in cache (whole-array ones were several
    # times the codes' size, fresh memory on every save).
    for start in range(0, n, _BINARIZE_ROWS):
        chunk = vectors[start : start + _BINARIZE_ROWS]
        if chunk.dtype == np.float16:
            # numpy compares float16 one value at a time (~5 ns each: most of an index's save).
            # A float16 is > 0 exactly where its bits, read as an integer, lie in [1, 0x7C00]:
            # +0 is 0, +inf 0x7C00; negatives, -0 and NaNs lie above.
            positive = (chunk.view(np.uint16) - np.uint16(1)) < np.uint16(0x7C00)
        else:
            positive = chunk > 0
        out[start : start + len(chunk), : -(-d // 8)] = np.packbits(positive, axis=1, bitorder="little")
    return out.view(np.uint64).reshape(n, words)


@dataclass(frozen=True)
class BinaryPages:
    """Sign codes of packed pages: ``codes`` ``(total_tokens, words)`` uint64 plus ``offsets``."""

    codes: np.ndarray
    offsets: np.ndarray
    dim: int
    # The nibble kernel's layout of the codes (:attr:`planes`), built when first needed.
    _planes: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)
    _planes_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The compiled kernels index ``codes`` by these offsets without bounds checks, so a
        # mismatch here would read outside the array: refuse it once, at construction, and
        # keep every query free of checks.
        words = -(-self.dim // 64) if self.dim > 0 else 0
        if words == 0 or self.codes.ndim != 2 or self.codes.dtype != np.uint64 or self.codes.shape[1] != words:
            raise ValueError(f"codes must be (tokens, {max(words, 1)}) uint64 for dimension {self.dim}, "
                             f"got {self.codes.dtype} {self.codes.shape}")
        # No empty pages (as PackedPages): a page without tokens has no minimum distance, and the
        # kernels' "none yet" sentinel would sum to a wrapped-around int32 that ranked it first.
        check_offsets(self.offsets, self.codes.shape[0], empty_pages=False)

    def __getstate__(self) -> dict[str, Any]:  # pickled without the lock and the derived planes
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_planes", None)
        object.__setattr__(self, "_planes_lock", threading.Lock())

    @classmethod
    def from_pages(cls, pages: PackedPages | Sequence[np.ndarray]) -> "BinaryPages":
        packed = as_packed(pages)
        return cls(binarize(packed.tokens), packed.offsets, packed.dim)

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def select(self, indices: Sequence[int] | np.ndarray) -> "BinaryPages":
        """A new set holding the given pages' codes, in the given order (copies their rows)."""
        rows, offsets = gather_rows(self.offsets, indices)
        return BinaryPages(np.take(np.asarray(self.codes), rows, axis=0), offsets, self.dim)

    @property
    def bytes_per_page(self) -> float:
        return self.codes.nbytes / max(len(self), 1)

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray]:
        """The codes laid out for the nibble-table kernel, ``(planes, block_offsets)``
        (:func:`._nibble_kernel.build_planes`): built at the first search that uses it (once,
        under a lock, on the Hamming stage's threads) and kept, as many bytes again as
        ``codes`` plus each page's padding to 32 tokens. Codes changed in place afterwards are
        not seen: build a new ``BinaryPages``."""
        with self._planes_lock:
            planes = self._planes
            if planes is None:
                from ._hamming_kernel import thread_count
                from ._nibble_kernel import build_planes

                planes = build_planes(np.asarray(self.codes), self.offsets,
                                      lambda run, n: _in_blocks(run, n, thread_count()))
                object.__setattr__(self, "_planes", planes)
            return planes

    @property
    def has_planes(self) -> bool:
        """Whether :attr:`planes` has been built (the nibble kernel has searched these pages)."""
        return self._planes is not None


# --- kernels -----------------------------------------------------------------------------------

#: Pages per block of the compiled Hamming stage: a thread takes the next block when it is
#: done with one (a few milliseconds of work each at ColPali sizes).
PAGE_BLOCK = 512
def _in_blocks(run: Callable[[int, int], None], n_pages: int, threads: int) -> None:
    """``run(start, stop)`` over blocks of :data:`PAGE_BLOCK` pages on ``threads`` threads
    (:func:`._threads.in_blocks`)."""
    in_blocks(run, n_pages, threads, PAGE_BLOCK)


#: Largest total weight of a query token the nibble kernel sums exactly (byte sums; a 2-bit
#: query's mask marks half the dimensions, so 128 + 64 at 128-d).
_NIBBLE_MAX_WEIGHT = 255


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


def check_query_bits(query_bits: Any) -> None:
    """Raise :class:`InputError` unless ``query_bits`` is 1 or 2 (bits per query dimension)."""
    if isinstance(query_bits, bool) or query_bits not in (1, 2):
        raise InputError(f"query_bits must be 1 or 2, got {query_bits!r}", input_name="query_bits")


def query_codes(queries: Sequence[np.ndarray] | np.ndarray, dim: int,
                query_bits: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sign codes, weight masks and owning query of every real query token.

    ``query_bits=2`` sets a mask bit on the half of each token's dimensions with the largest
    magnitude; those dimensions count twice in the Hamming distance. ``query_bits=1`` gives
    all-zero masks (plain Hamming).
    """
    check_query_bits(query_bits)
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
    the token's total weight. The query is tiny, so this costs no storage; with the popcount
    kernel it costs ~1.5x the popcounts (nothing more with the nibble kernel) and, on weak
    matches, ranks the right page far higher (see the benchmark).
    ``use_numba=None`` uses numba when installed.
    """
    q_codes, q_masks, owner = query_codes(queries, pages.dim, query_bits)
    kernel = popcount_kernel() if use_numba in (None, True) else None
    if use_numba and kernel is None:
        from .._optional import require

        require("local", "numba", what="use_numba=True")
    weight = pages.dim + np.bitwise_count(q_masks).sum(axis=1, dtype=np.int64)  # W_i per query token
    n_queries = int(owner.max()) + 1
    if kernel is not None and q_codes.shape[1] == 2:
        # ColPali's 128-d codes: one fused pass scores every query, summing per query in the
        # kernel. The sums are small integers, exact in float32: the same values as below.
        from ._hamming_kernel import SIMD_TOKENS, hamming_maxsim_2words_range, thread_count

        q_starts = np.searchsorted(owner, np.arange(n_queries + 1)).astype(np.int64)
        sums = np.empty((n_queries, len(pages)), np.int32)
        if nibble_runs(pages.dim) and weight.max() <= _NIBBLE_MAX_WEIGHT:
            from ._nibble_kernel import nibble_maxsim_range, query_tables

            planes, block_offsets = pages.planes
            n_args = (query_tables(q_codes, q_masks), planes, block_offsets, pages.offsets, weight, q_starts, sums)
            _in_blocks(lambda start, stop: nibble_maxsim_range(*n_args, start, stop), len(pages), thread_count())
            return sums.astype(np.float32)
        # Pad the stacked tokens to whole SIMD registers (copies of token 0, never summed).
        take = np.concatenate([np.arange(len(owner)), np.zeros(-len(owner) % SIMD_TOKENS, np.int64)])
        w, m = np.ascontiguousarray(q_codes[take].T), np.ascontiguousarray(q_masks[take].T)
        args = (w[0], w[1], m[0], m[1], weight[take], q_starts, pages.codes, pages.offsets, query_bits == 2, sums)
        _in_blocks(lambda start, stop: hamming_maxsim_2words_range(*args, start, stop), len(pages), thread_count())
        scores: np.ndarray = sums.astype(np.float32)
        return scores
    if kernel is None:
        mins = _min_hamming_numpy(q_codes, q_masks, pages.codes, pages.offsets)
    else:
        from ._hamming_kernel import thread_count

        mins = np.empty((len(pages), q_codes.shape[0]), np.int32)
        k_args = (np.ascontiguousarray(q_codes.T), np.ascontiguousarray(q_masks.T), pages.codes, pages.offsets, mins)
        _in_blocks(lambda start, stop: kernel(*k_args, start, stop), len(pages), thread_count())
    sims = (weight[None, :] - 2 * mins).astype(np.float32)  # (P, query tokens)
    out = np.zeros((n_queries, len(pages)), dtype=np.float32)
    np.add.at(out, owner, sims.T)
    return out


def hamming_maxsim_pairs(
    queries: Sequence[np.ndarray] | np.ndarray,
    pages: BinaryPages,
    query_index: np.ndarray,
    page_index: np.ndarray,
    *,
    query_bits: int = 2,
    use_numba: bool | None = None,
) -> np.ndarray:
    """Hamming-MaxSim of chosen (query, page) pairs: ``out[r]`` is
    ``hamming_maxsim(queries, pages)[query_index[r], page_index[r]]`` (the same integers), as a
    float32 array shaped like the indices. The 2-bit stage of a prefiltered search, where each
    query scores only its own surviving pages: with the compiled kernel every pair is one work
    item, spread over the Hamming stage's threads; without it, one numpy pass per query.
    """
    q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
    qi, pi = np.asarray(query_index, dtype=np.int64), np.asarray(page_index, dtype=np.int64)
    if qi.shape != pi.shape:
        raise InputError(f"query_index {qi.shape} and page_index {pi.shape} must have the same shape", input_name="page_index")
    for name, idx, n in (("query_index", qi, len(q_list)), ("page_index", pi, len(pages))):
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise InputError(f"{name} must lie in 0..{n - 1}, got {idx.min()}..{idx.max()}", input_name=name)
    out = np.empty(qi.shape, np.float32)
    if not qi.size:
        return out
    flat_q, flat_p, flat_out = qi.ravel(), pi.ravel(), out.reshape(-1)
    kernel = popcount_kernel() if use_numba in (None, True) else None
    if kernel is None or -(-pages.dim // 64) != 2:
        for g in np.unique(flat_q):
            sel = np.flatnonzero(flat_q == g)
            flat_out[sel] = hamming_maxsim([q_list[g]], pages.select(flat_p[sel]), query_bits=query_bits,
                                           use_numba=use_numba)[0]
        return out
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
    order = np.lexsort((flat_p, flat_q))  # by query, then page: a query's pages are read front to back
    pair_q, pair_p = np.ascontiguousarray(flat_q[order]), np.ascontiguousarray(flat_p[order])
    sums = np.empty(order.size, np.int32)
    args = (w[0], w[1], m[0], m[1], weight[take], q_starts, real, pages.codes, pages.offsets, pair_q, pair_p,
            query_bits == 2, sums)
    _in_blocks(lambda start, stop: hamming_maxsim_2words_pairs(*args, start, stop), order.size, thread_count())
    flat_out[order] = sums
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
    screen: Int16Screen | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hamming-MaxSim over all pages, then float MaxSim over each query's top ``candidates``.

    With ``query_bits=2`` every page is scored with the 2-bit weights, unless ``prefilter`` (an
    opt-in, off by default: it loses weakly matching pages, see :func:`prefilter_size`) asks for
    two steps with the popcount kernel: plain 1-bit Hamming over every page (half the
    popcounts) keeps each query's best :func:`prefilter_size` pages (``prefilter``, at least
    ``PREFILTER_PER_CANDIDATE * candidates``), and only those are scored with the 2-bit weights
    (:func:`hamming_maxsim_pairs`). Where the nibble kernel scores the codes
    (:func:`nibble_runs`) 2 bits cost what 1 bit does and there is never a prefilter.
    Returns ``(scores, page indices)``, each ``(queries, k)``, best first; scores are full
    precision MaxSim. ``binary`` and ``pages`` must describe the same pages in the same order
    (``pages`` may be a memory map: only the candidates' rows are read). ``screen``, the
    :class:`~.int16_screen.Int16Screen` of ``pages`` (``ScreenedPages.int16``), lets the float32
    rerank rescore only the candidates its certified bound cannot rule out: the same answer,
    bit for bit (:func:`~._rerank.rerank`).
    """
    from .maxsim import top_k

    k, candidates = int_at_least(k, "k", 1), int_at_least(candidates, "candidates", 1)
    check_query_bits(query_bits)
    if prefilter is not None:
        int_at_least(prefilter, "prefilter", 0)  # checked with 1-bit queries too, which ignore it
    if len(binary) != len(pages):
        raise InputError(f"binary codes hold {len(binary)} pages but float pages hold {len(pages)}", input_name="pages")
    q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
    n_cand = max(min(candidates, len(pages)), min(k, len(pages)))
    n_pre = prefilter_size(len(pages), n_cand, prefilter, dim=binary.dim) if query_bits == 2 else 0
    if n_pre:
        cand = prefiltered_candidates(q_list, binary, n_pre, n_cand)
    else:
        _, cand = top_k(hamming_maxsim(q_list, binary, query_bits=query_bits), n_cand)
    return rerank(q_list, cand, pages, min(k, len(pages)), compute, screen=screen)


#: With 2-bit queries, the popcount kernel and an opt-in ``prefilter``, :func:`two_stage_search`
#: first ranks every page by plain 1-bit Hamming (half the popcounts) and scores only each
#: query's best ``max(prefilter, PREFILTER_PER_CANDIDATE * candidates)`` pages with the 2-bit
#: weights (``MultiVectorIndex.binary_prefilter`` is the index's ``prefilter``).
PREFILTER_PER_CANDIDATE = 8


def prefiltered_candidates(q_list: list[np.ndarray], binary: BinaryPages, n_pre: int, n_cand: int) -> np.ndarray:
    """Each query's best ``n_cand`` pages by 2-bit Hamming-MaxSim among its best ``n_pre`` by
    1-bit Hamming-MaxSim: ``(queries, n_cand)`` page indices, best first."""
    from .maxsim import top_k

    _, pre = top_k(hamming_maxsim(q_list, binary, query_bits=1), n_pre)
    pre = np.sort(pre, axis=1)  # page order: 2-bit ties break toward the lower page, as without the prefilter
    rows = np.repeat(np.arange(len(q_list)), pre.shape[1]).reshape(pre.shape)
    _, local = top_k(hamming_maxsim_pairs(q_list, binary, rows, pre, query_bits=2), n_cand)
    out: np.ndarray = np.take_along_axis(pre, local, axis=1)
    return out


def prefilter_size(n_pages: int, candidates: int, prefilter: int | None = None, *, dim: int = 128) -> int:
    """Pages per query kept by the 1-bit prefilter of a 2-bit search; 0 means no prefilter
    (2-bit over every page), the default (``prefilter`` None or 0). A given ``prefilter`` is
    raised to ``PREFILTER_PER_CANDIDATE * candidates`` (fewer would cut into the candidates).
    No prefilter either when it would keep every page, nor where the nibble kernel scores
    ``dim``-dimensional codes (:func:`nibble_runs`): there 2-bit Hamming over every page costs
    what the 1-bit pass does.

    Off by default because plain 1-bit Hamming ranks a weakly matching page far lower than the
    2-bit weights do: on bench_maxsim's data (2,000 pages, each query's relevant page matching
    at cosine 0.48) the 1-bit stage put the relevant page at rank 203-475 for 4 of 16 queries,
    outside a prefilter of 256 for 2 of them, and the search kept 0.875 of float32's nDCG@5
    against 1.000 without it. It saved 4-22 ms of 74-80 in two runs (Zen 4, popcount kernel)."""
    if prefilter is not None:
        int_at_least(prefilter, "prefilter", 0)
    if not prefilter or nibble_runs(dim):
        return 0
    n = max(int(prefilter), PREFILTER_PER_CANDIDATE * int(candidates))
    return n if n < n_pages else 0
