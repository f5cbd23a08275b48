"""The int16 screen of :class:`~.screened.ScreenedPages`: exact integer MaxSim of rounded tokens,
with a certified bound: the screen of x86 CPUs with AVX2, AVX512-BF16 ones included (not AMX ones).

Without AVX512-BF16 or AMX the bfloat16 screen is emulated, far slower than the float32 scan
it would save. Integers are native everywhere: AVX2's ``vpmaddwd`` multiplies 16-bit integers
at about 1.7 times torch's float32 rate (:mod:`._int16_kernel`), and 16-bit values carry
about 15 bits of each token where bfloat16 carries 8, so this bound is some 20 times tighter.

Rounding. Page ``P``'s tokens share one scale ``s_P`` (the per-token maximum must be taken
over integers of one scale), a query token ``q`` has its own ``s_q``; each is the smallest
that keeps every value within +-32767 and every token's norm within :data:`NORM_LIMIT` less
``sqrt(d) / 2`` (so the rounded norm is within it). ``p^ = rint(p / s_P)``, ``q^ = rint(q / s_q)``.
The kernel gives ``M = max_p q^.p^`` exactly (32-bit sums cannot overflow: each partial sum is
at most ``|q^| |p^| < 2**31``).

The bound. For a query token and a page token, with ``D = s_q s_P q^.p^``,

    |q.p - D| <= |q| |p - s_P p^| + |q - s_q q^| |s_P p^|       (Cauchy-Schwarz, twice)

and float32 arithmetic gives ``q.p`` to within ``g |q| |p|`` (``g = d u / (1 - d u)``, ``u =
2**-24``). A max moves no more than its arguments, so per query token the float32 maximum is
within ``e_q = |q| (r_P + g n_P) + |q - s_q q^| m_P`` of ``s_q s_P M``, with the page's
largest residual ``r_P = max |p - s_P p^|``, rounded norm ``m_P = max |s_P p^|`` and norm
``n_P = max |p|`` (measured in float64 by :meth:`Int16Screen.from_pages`, slack added). The
float32 sum over ``n`` query tokens adds ``g_n`` of its absolute sum. The float64 bookkeeping
(products of scales, a running sum of ``n`` terms) adds at most ``(n + 1) 2**-53`` of the
absolute sum; ``(n + 4) 2**-52`` is kept for it.

Flushed subnormals. A CPU set to flush subnormal inputs to zero (DAZ, e.g.
``torch.set_flush_denormal(True)``) reads a value under ``2**-126`` as 0: where that setting
differs between the build (the residuals measured) and the search (the float32 rescoring), a
value may move by ``2**-126``, a token by ``sqrt(d) 2**-126``. The bound adds that to both
residuals and to the float32 products (``sqrt(d) 2**-126 (2 sum|q| + n (m_P + n_P))``), and
``2**-100`` per query token for flushed products (up to ``d = 2**26``): nothing at any scale
real vectors have.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, MissingDependencyError
from ._int16_layout import NORM_LIMIT, QUERY_GROUP, VALUES_STEP, block_offsets_of
from ._numba import numba_loads
from ._rounding import gamma
from ._threads import in_blocks
from .packed import PackedPages

__all__ = ["INT16_PAGE_BLOCK", "CopyAllocator", "Int16Screen", "int16_round", "int16_screen_available", "padded_dim"]

_MAX_INT16 = 32767
_TINY = 2.0**-126  # the smallest normal float32: below it a CPU set to flush reads 0
_SLACK = 1.0 + 1e-9  # float64 norms of float32 values
_FLOAT32_SAFE = 1e38  # float32's largest value is 3.4e38

#: Pages per block handed to a thread: a ColPali page is ~0.6 ms of kernel work for 16 queries
#: of 20 tokens, so blocks of 512 (the Hamming stage's) left one of two threads idle at the end.
INT16_PAGE_BLOCK = 32


def padded_dim(dim: int) -> int:
    """Values per rounded token: ``dim`` padded with zeros to the kernel's step."""
    return -(-dim // VALUES_STEP) * VALUES_STEP


def int16_round(x: np.ndarray, scale: np.ndarray, width: int,
                out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pairs, residual, rounded_norm)`` of float rows ``x`` ``(n, d)`` at per-row ``scale``:
    ``rint(x / scale)`` as ``(n, width / 2)`` int32 pairs of int16 values (zeros past ``d``),
    ``|x - scale * x^|`` and ``|scale * x^|`` per row (float64, as computed). ``out``: an
    ``(n, width)`` int16 array to write them to, else a new one."""
    from ._int16_kernel import round_rows

    x = np.ascontiguousarray(x, np.float32 if x.dtype == np.float16 else None)  # float16 -> float32: exact
    if out is None:
        out = np.zeros((x.shape[0], width), np.int16)
    elif width > x.shape[1]:
        out[:, x.shape[1]:] = 0
    residual, rounded = np.empty(x.shape[0]), np.empty(x.shape[0])
    round_rows(x, np.ascontiguousarray(scale, np.float64), out, residual, rounded)
    return out.view(np.int32), residual, rounded


class _Rows:
    """A buffer of rows of ``width`` values, grown as needed; :meth:`take` gives its first ``n``."""

    def __init__(self, width: int, dtype: type) -> None:
        self.array: np.ndarray = np.empty((0, width), dtype)

    def take(self, n: int) -> np.ndarray:
        if n > len(self.array):
            self.array = np.empty((n, self.array.shape[1]), self.array.dtype)
        return self.array[:n]


def _float32_rows(x: np.ndarray, rows: _Rows) -> np.ndarray:
    """``x`` as float32 rows: float16 rows converted into ``rows`` (exactly, by torch's vector
    conversion where torch is installed: numpy's takes ~2 ns a value, ten times longer),
    float32 rows as they are."""
    if x.dtype != np.float16:
        return np.ascontiguousarray(x, np.float32)
    from .maxsim import _as_tensor

    out = rows.take(len(x))
    try:
        _as_tensor(out).copy_(_as_tensor(x))
    except MissingDependencyError:
        np.copyto(out, x)
    return out


def _row_norms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each float row's norm and largest absolute value (float64)."""
    from ._int16_kernel import row_norms as kernel

    x = np.ascontiguousarray(x, np.float32 if x.dtype == np.float16 else None)
    norm, max_abs = np.empty(x.shape[0]), np.empty(x.shape[0])
    kernel(x, norm, max_abs)
    return norm, max_abs


def _scales(norm: np.ndarray, max_abs: np.ndarray, dim: int) -> np.ndarray:
    """The smallest scale per entry keeping values within +-32767 and rounded norms within
    :data:`NORM_LIMIT` (a rounded row's norm exceeds the scaled norm by at most ``sqrt(d)/2``)."""
    limit = NORM_LIMIT - math.sqrt(dim) / 2 - 1
    s = np.maximum(norm / limit, max_abs / _MAX_INT16) * (1.0 + 1e-12)  # float64 division: a hair more
    s[s == 0] = 1.0  # all-zero rows round to zeros at any scale
    return s


#: Where a screen's copy is built: ``(shape, dtype) -> array`` (``np.empty``, or a memory map).
CopyAllocator = Callable[[tuple[int, ...], np.dtype], np.ndarray]


@dataclass(frozen=True, eq=False)
class Int16Screen:
    """Pages rounded to 16-bit integers for :meth:`scores`, with what the bound needs.

    Built by :meth:`from_pages` (one pass over the pages; 2 bytes per value, padded to a
    multiple of 8 tokens per page and of 8 values per token)."""

    planes: np.ndarray  # (blocks, pairs, 8) int32: the kernel's layout (_int16_kernel)
    block_offsets: np.ndarray  # (P + 1,) int64
    stats: np.ndarray  # (4, P) float64: scale s_P, residual r_P, rounded norm m_P, norm n_P (slack applied)
    dim: int

    @classmethod
    def from_pages(cls, pages: PackedPages, *, chunk_tokens: int = 1 << 13,
                   copy_to: CopyAllocator | None = None) -> "Int16Screen":
        """Round ``pages`` (float16 or float32 rows) and measure the norms the bound needs.
        ``copy_to(shape, dtype)`` gives the array the rounded pages are written to (an index
        passes a memory-mapped file, so that its save holds no whole copy in memory); default,
        a new array."""
        from ._int16_kernel import build_planes

        width = padded_dim(pages.dim)
        block_offsets = block_offsets_of(pages.lengths)
        planes = (copy_to or np.empty)((int(block_offsets[-1]), width // 2, 8), np.dtype(np.int32))
        stats = np.empty((4, len(pages)), np.float64)
        offsets = pages.offsets
        # Buffers reused from chunk to chunk (fresh ones cost a page fault every 4 KiB, as much
        # as the work), each chunk small enough to stay in cache between its two passes.
        rows32 = _Rows(pages.dim, np.float32)
        rows16 = _Rows(width, np.int16)
        p0 = 0
        while p0 < len(pages):
            # Whole pages per chunk (a page's scale needs all its tokens), at least one page.
            p1 = max(p0 + 1, int(np.searchsorted(offsets, offsets[p0] + chunk_tokens, side="right")) - 1)
            p1 = min(p1, len(pages))
            x = _float32_rows(pages.tokens[offsets[p0] : offsets[p1]], rows32)
            starts = offsets[p0:p1] - offsets[p0]
            token_norm, token_max = _row_norms(x)
            if not np.isfinite(token_norm).all():
                raise InputError("pages contain NaN or infinite values", input_name="pages")
            norm = np.maximum.reduceat(token_norm, starts)
            scale = _scales(norm, np.maximum.reduceat(token_max, starts), pages.dim)
            pairs, residual, rounded = int16_round(x, np.repeat(scale, pages.lengths[p0:p1]), width,
                                                   out=rows16.take(len(x)))
            build_planes(planes, pairs, offsets, block_offsets, p0, p1)
            r_max = np.maximum.reduceat(residual, starts)
            m_max = np.maximum.reduceat(rounded, starts)
            stats[0, p0:p1] = scale
            stats[1, p0:p1] = r_max * _SLACK + 1e-15 * m_max  # the residual's own float64 rounding
            stats[2, p0:p1] = m_max * _SLACK
            stats[3, p0:p1] = norm * _SLACK
            p0 = p1
        return cls(planes, block_offsets, stats, pages.dim)

    def __post_init__(self) -> None:
        # The kernel reads the planes where the block offsets say, unchecked: they must agree.
        p, b = self.stats.shape[1] if self.stats.ndim == 2 else -1, self.block_offsets
        ok = (self.planes.ndim == 3 and self.planes.dtype == np.int32 and self.planes.flags.c_contiguous
              and self.planes.shape[1:] == (padded_dim(self.dim) // 2, 8) and self.stats.shape == (4, p)
              and b.ndim == 1 and b.shape[0] == p + 1 and b[0] == 0 and int(b[-1]) == self.planes.shape[0]
              and bool((np.diff(b) >= 1).all()))
        if not ok:
            raise InputError(f"an int16 screen's arrays disagree: planes {self.planes.dtype} {self.planes.shape}, "
                             f"block offsets {b.shape}, stats {self.stats.shape}, dimension {self.dim}",
                             input_name="int16")

    def __len__(self) -> int:
        return int(self.stats.shape[1])

    def fits(self, pages: PackedPages) -> bool:
        """Whether this screen was built from pages of ``pages``' lengths and dimension."""
        return (self.dim == pages.dim and len(self) == len(pages)
                and bool(np.array_equal(self.block_offsets, block_offsets_of(pages.lengths))))

    def scores(self, q_pad: np.ndarray, q_mask: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
        """Screened MaxSim of zero-padded ``(Q, n, d)`` float32 queries (``q_mask`` their real
        tokens) and its bound: two ``(Q, P)`` float64 arrays ``(approx, eps)`` with ``|approx -
        float32 score| <= eps`` for the float32 score :func:`~.maxsim.maxsim` gives the padded
        queries. ``threads`` threads run the kernel. ``eps`` is infinite where float32 could
        overflow (a query's norms times a page's largest norm from 1e38 on)."""
        from ._int16_kernel import int16_maxsim_range

        q = _RoundedQueries.of(q_pad, q_mask, self.planes.shape[1] * 2)
        approx = np.empty((q_pad.shape[0], len(self)), np.float64)
        abs_sum = np.empty_like(approx)
        page_scale = np.ascontiguousarray(self.stats[0])

        def run(start: int, stop: int) -> None:
            int16_maxsim_range(q.pairs, q.scale, q.starts, q.counts, self.planes, self.block_offsets, page_scale,
                               approx, abs_sum, start, stop)

        in_blocks(run, len(self), threads, INT16_PAGE_BLOCK)
        return approx, self._bound(q, q_pad.shape[1], self.stats, abs_sum)

    def scores_of(self, q_pad: np.ndarray, q_mask: np.ndarray, ids: np.ndarray,
                  threads: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`scores` of each query over its own pages ``ids[q]`` (``(Q, C)`` page indices):
        ``(approx, eps)``, each ``(Q, C)``. Queries are spread over ``threads`` threads."""
        from ._int16_kernel import int16_maxsim_ids

        ids = np.ascontiguousarray(ids, np.int64)
        if ids.ndim != 2 or ids.shape[0] != q_pad.shape[0] or (ids.size and not 0 <= ids.min() <= ids.max() < len(self)):
            raise InputError(f"ids must be ({q_pad.shape[0]}, C) indices of the {len(self)} pages", input_name="ids")
        q = _RoundedQueries.of(q_pad, q_mask, self.planes.shape[1] * 2)
        approx = np.empty(ids.shape, np.float64)
        abs_sum = np.empty_like(approx)
        page_scale = np.ascontiguousarray(self.stats[0])

        def run(start: int, stop: int) -> None:
            int16_maxsim_ids(q.pairs, q.scale, q.starts, q.counts, self.planes, self.block_offsets, page_scale, ids,
                             approx, abs_sum, start, stop)

        in_blocks(run, ids.shape[0], threads, 1)
        return approx, self._bound(q, q_pad.shape[1], self.stats[:, ids], abs_sum)

    def _bound(self, q: "_RoundedQueries", n_tok: int, stats: np.ndarray, abs_sum: np.ndarray) -> np.ndarray:
        """``eps`` (module docstring) for the queries ``q`` and pages of per-page ``stats``
        (``(4, P)``, or ``(4, Q, C)`` per query), shaped as ``abs_sum``."""
        dim = self.dim
        g_d, g_n = gamma(dim), gamma(n_tok)
        _, r_p, m_p, n_p = stats
        if r_p.ndim == 1:  # the same pages for every query
            r_p, m_p, n_p = r_p[None, :], m_p[None, :], n_p[None, :]
        norm, residual, counts = q.norm_sum[:, None], q.residual_sum[:, None], q.counts[:, None]
        tokens = norm * (r_p + g_d * n_p) + residual * m_p
        # Subnormals read as zero at build or at search (module docstring): each token moves by
        # at most sqrt(d) 2**-126 on each side of a product.
        tokens += math.sqrt(dim) * _TINY * (2.0 * norm + counts * (m_p + n_p))
        eps: np.ndarray = (1.0 + g_n) * tokens + (g_n + (n_tok + 4) * 2.0**-52) * abs_sum
        # A hair more for this float64 arithmetic, and for float32 subnormals flushed to zero.
        eps = eps * (1.0 + 1e-9) + n_tok * 2.0**-100
        # The bound assumes finite float32 arithmetic: a score, a product or a partial sum is at
        # most sum_i |q_i| * n_P. Where that could reach float32's range, no bound (infinite).
        eps[np.broadcast_to(norm * n_p >= _FLOAT32_SAFE, eps.shape)] = np.inf
        return eps


@dataclass(frozen=True)
class _RoundedQueries:
    """Queries rounded for the kernel: each query's tokens padded to whole groups (copies of its
    first token, whose maxima are never summed), with what the bound needs per query."""

    pairs: np.ndarray  # (padded tokens, pairs) int32
    scale: np.ndarray  # (padded tokens,) float64
    starts: np.ndarray  # (Q + 1,) int64: query g's padded tokens are starts[g]:starts[g + 1]
    counts: np.ndarray  # (Q,) int64: its real tokens, the first counts[g] of them
    norm_sum: np.ndarray  # (Q,) float64: sum of |q_i| (slack applied)
    residual_sum: np.ndarray  # (Q,) float64: sum of |q_i - s_i q^_i| (slack applied)

    @classmethod
    def of(cls, q_pad: np.ndarray, q_mask: np.ndarray, width: int) -> "_RoundedQueries":
        counts = q_mask.sum(1).astype(np.int64)
        real = q_pad[q_mask]  # (tokens, d) float32, query by query
        first = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=first[1:])
        norm, max_abs = _row_norms(real)
        scale = _scales(norm, max_abs, q_pad.shape[2])
        pairs, residual, _ = int16_round(real, scale, width)
        padded = -(-counts // QUERY_GROUP) * QUERY_GROUP
        starts = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(padded, out=starts[1:])
        within = np.arange(int(starts[-1])) - np.repeat(starts[:-1], padded)  # position in the query's group
        take = np.repeat(first[:-1], padded) + np.where(within < np.repeat(counts, padded), within, 0)
        norm_sum = np.add.reduceat(norm, first[:-1]) * _SLACK
        residual_sum = np.add.reduceat(residual, first[:-1]) * _SLACK + 1e-15 * norm_sum
        return cls(np.ascontiguousarray(pairs[take]), np.ascontiguousarray(scale[take]), starts, counts, norm_sum,
                   residual_sum)


def int16_screen_available() -> bool:
    """Whether :class:`Int16Screen` can score here: numba is installed and compiles the AVX2
    kernel for this CPU (checked at each call: numba's settings may change)."""
    if not numba_loads():
        return False
    from ._int16_kernel import available

    return available()
