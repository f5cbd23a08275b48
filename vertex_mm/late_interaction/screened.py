"""Exact float32 MaxSim top-k, sped up by a certified screen: bfloat16, or 16-bit integers.

bfloat16 arithmetic scores pages about twice as fast as float32 on a CPU with AVX512-BF16, but
its scores are approximate. :meth:`ScreenedPages.exact_topk` uses it only to rule pages out.
On x86 CPUs with AVX2 (AVX512-BF16 ones included, AMX ones not) the screen is exact integer
MaxSim of the tokens rounded to 16 bits instead (:mod:`.int16_screen`, its own, much tighter
bound); bfloat16 screens on CPUs with AMX, and where it is native but the integer kernel does
not run; elsewhere the float32 scan answers. :func:`screen_kind` says which runs here. Either way:

1. score every page with the screen (bfloat16 inputs with float32 accumulation, as
   :func:`maxsim` does, or the integer kernel);
2. bound, rigorously, how far each screened score can be from the float32 score (below);
3. rescore each query's ``k`` best screened pages in float32: their ``k``-th exact score is a
   lower bound of the true ``k``-th score; rescore, for that query only, every page whose upper
   bound reaches it, exactly as :func:`maxsim` with ``compute="float32"`` would, and rank.

The answer is *identical* to ``top_k(maxsim(queries, pages), k)``: the same pages, order and
float32 scores. "Exact" means float32 arithmetic on the stored page values (float32, or float16
widened to float32 exactly).
Bit-identical scores rely on the BLAS computing each float32 dot product the same way whatever
the other rows and columns of the product (true of the oneDNN kernels torch uses here once
each side is at least 12 wide, which :func:`token_maxima` ensures by padding; checked once per
process, with the full query block as the fallback, and by the tests), since the rescoring
multiplies a few pages by one query where the full scan multiplies blocks of pages by all.
Per query, about 1-4 % of random ColPali pages survive, but nearly all of them for some query of
a batch of 16: rescoring the union with every query cost more than the full scan.
The bound assumes what those kernels do for bfloat16: float32 accumulation, round-to-nearest.

The bfloat16 bound. For query token ``q`` and page token ``p`` write ``b(.)`` for rounding to bfloat16
(unit roundoff ``u = 2**-8``) and ``g = d * 2**-24 / (1 - d * 2**-24)`` (float32 accumulation of
``d`` terms, any order). Products of bfloat16 values are exact in float32, so with
Cauchy-Schwarz the bfloat16 dot product before its output rounding differs from ``q.p`` by at
most ``|b(q)| (g |b(p)| + |b(p) - p|) + |b(q) - q| |p|``, and the float32 dot product differs
from ``q.p`` by at most ``g |q| |p|``. The bfloat16 output rounding is monotone, so it commutes
with the per-token max and adds at most ``u / (1 - u)`` of the screened maximum. A max moves
no more than its arguments, and the float32 sums over query tokens add ``g_n`` of the absolute
sum on each side. Page terms use each page's largest ``|p|``, ``|b(p)|`` and ``|b(p) - p|``,
computed once by :meth:`ScreenedPages.from_pages`; query terms are exact norms per query.
The bound uses measured residual norms, not the worst case, which makes it about 2.5 times
tighter than ``2u |q| |p|`` per token; it is still some 10 times the observed error, because
Cauchy-Schwarz assumes the rounding errors line up with the other vector.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._device import cpu_has_amx_bf16, cpu_has_native_bf16
from ..errors import InputError
from ._rerank import RERANK_BLOCK_TOKENS, check_within_bound, rows_buffer, widened_token_maxima, widens_in_place
from ._rounding import gamma
from ._threads import _per_thread_torch_threads, on_query_threads
from .int16_screen import CopyAllocator, Int16Screen, int16_screen_available
from .maxsim import (
    DEFAULT_BLOCK_TOKENS,
    MIN_PRODUCT_SIDE,
    _as_tensor,
    _torch,
    few_query_tokens,
    maxsim,
    query_sums,
    token_maxima,
    top_k,
)
from .packed import PackedPages, as_packed, int_at_least, pack_queries

__all__ = ["SCREEN_ENV", "SCREEN_KINDS", "ScreenedPages", "held_bfloat16_runs", "screen_bounds", "screen_choice",
           "screen_kind", "stored_screen_kind"]

#: Chooses the screen: ``auto`` (default), ``bfloat16``, ``int16`` or ``none`` (the float32 scan).
SCREEN_ENV = "VERTEX_MM_SCREEN"
SCREEN_KINDS = ("bfloat16", "int16")

U_BF16 = 2.0**-8


#: Results of :func:`_columns_check` kept per process. Its key holds the width of the whole
#: query block (queries x padded tokens), which a server sees vary without end: the least
#: recently used results go, and a shape seen again after that is checked again (10-30 ms
#: at dimension 128 on 2 cores, AMD EPYC).
COLUMN_CHECKS_KEPT = 64


def _columns_independent(dim: int, width: int, full_width: int, few: bool, rescore_few: bool | None = None) -> bool:
    """Whether float32 products with ``width`` of ``full_width`` query columns, in the layout
    ``rescore_few`` (default ``few``), give the bits of the full product in the layout ``few``
    (:func:`token_maxima`) in those columns, for rows of ``dim`` values, at the caller's torch
    thread count and at the one thread per query that :func:`on_query_threads` rescores on:
    checked on random rows of a few sizes and column offsets, once per shape, pair of layouts
    and thread count (the last :data:`COLUMN_CHECKS_KEPT` kept)."""
    threads = int(_torch().get_num_threads())
    rescore_few = few if rescore_few is None else rescore_few
    # Products are padded to MIN_PRODUCT_SIDE (token_maxima): narrower widths are one shape.
    return _columns_check(dim, max(width, MIN_PRODUCT_SIDE), max(full_width, MIN_PRODUCT_SIDE), few, threads,
                          rescore_few)


@functools.lru_cache(maxsize=COLUMN_CHECKS_KEPT)
def _columns_check(dim: int, width: int, full_width: int, few: bool, threads: int, rescore_few: bool) -> bool:
    torch = _torch()
    gen = torch.Generator().manual_seed(dim * 7919 + width)
    n_rows = RERANK_BLOCK_TOKENS + 100  # a rescoring block (widened_token_maxima) and more
    rows = torch.randn(n_rows, dim, generator=gen)
    q_t = torch.randn(dim, full_width, generator=gen)

    def product(r: Any, q: Any, layout: bool) -> Any:
        return q.T.contiguous() @ r.T if layout else r @ q.contiguous()

    # The rescoring multiplies on one torch thread per query where on_query_threads can set
    # that, else on the caller's threads: its bits must be the scan's at each count it uses.
    counts = [threads] + ([1] if threads > 1 and _per_thread_torch_threads() else [])
    try:
        with torch.inference_mode():
            full = product(rows, q_t, few)  # the scan, at the caller's thread count
            for count in counts:
                if count != threads:
                    torch.set_num_threads(count)
                    if not torch.equal(product(rows, q_t, few), full):
                        return False
                for c0 in sorted({0, (full_width - width) // 2, full_width - width}):
                    part = q_t[:, c0 : c0 + width]
                    for r0, r1 in ((0, n_rows), (0, 4 * 1030), (1000, 2029), (7, 7 + MIN_PRODUCT_SIDE)):
                        want = full[c0 : c0 + width, r0:r1] if few else full[r0:r1, c0 : c0 + width]
                        got = product(rows[r0:r1], part, rescore_few)
                        if not torch.equal(got if rescore_few == few else got.T, want):
                            return False
    finally:
        if len(counts) > 1:
            torch.set_num_threads(threads)  # set last, from the caller's thread: its count stays its own
    return True


def _slack(n: int) -> float:
    """Factor covering the rounding of a float32 norm or sum of ``n`` terms computed here."""
    return 1.0 + 2.0 * gamma(n + 2) + 1e-7


def screen_choice() -> str:
    """``VERTEX_MM_SCREEN`` as given (``auto`` when unset), checked: :class:`InputError` for
    anything but auto, bfloat16, int16 or none. Cheap: it looks at no CPU and imports nothing."""
    choice = os.environ.get(SCREEN_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "none", *SCREEN_KINDS):
        raise InputError(f"{SCREEN_ENV} must be auto, bfloat16, int16 or none, got {choice!r}", input_name=SCREEN_ENV)
    return choice


def screen_kind() -> str | None:
    """The screen :meth:`ScreenedPages.exact_topk` runs here: ``"int16"`` where the AVX2 integer
    kernel compiles (:func:`~.int16_screen.int16_screen_available`), except on CPUs with AMX
    (:func:`~vertex_mm._device.cpu_has_amx_bf16`), whose bfloat16 products are several times
    faster; ``"bfloat16"`` there and wherever the CPU has bfloat16 natively but the integer
    kernel does not run; else None (the float32 scan answers).

    Why the integer screen even beside AVX512-BF16: on a 2-core AMD EPYC (Zen 4) it scored
    2,000 ColPali pages for 16 queries in 432-481 ms against bfloat16's 501 ms, and its bound is
    some 30 times tighter (3.2e-3 against 9.8e-2 on scores of 5.65), so it left 5 pages per
    query to rescore where bfloat16 left 25; given the pages' int16 copy it also screens
    :func:`~.binary.two_stage_search`'s rerank (benchmarks/bench_maxsim.py).
    ``VERTEX_MM_SCREEN=bfloat16`` forces bfloat16 (even where it is emulated: slow, for tests),
    ``int16`` the integer screen where it runs, ``none`` the scan."""
    choice = screen_choice()
    if choice == "none":
        return None
    if choice == "bfloat16":
        return "bfloat16"
    integer = int16_screen_available()
    if choice == "auto" and cpu_has_native_bf16() and (cpu_has_amx_bf16() or not integer):
        return "bfloat16"
    return "int16" if integer else None


def held_bfloat16_runs() -> bool:
    """Whether a bfloat16 copy already held (an index saved before the int16 screen became this
    CPU's) is screened with here rather than replaced: where bfloat16 is native and the screen is
    left to ``auto``. Its bound is looser than int16's, but rebuilding an int16 copy costs the
    pages' size again in memory in every process that opens the index (8.8 GB at 100,000
    pages) where the held copy is only mapped."""
    return screen_choice() == "auto" and cpu_has_native_bf16()


def stored_screen_kind() -> str:
    """The screen :meth:`ScreenedPages.from_pages` builds by default and an index saves here: the
    one :func:`screen_kind` runs, bfloat16 where none does (a copy for a machine that has it)."""
    return screen_kind() or "bfloat16"


@dataclass(frozen=True)
class ScreenedPages:
    """Pages prepared for :meth:`exact_topk`: the stored pages and one screen, a bfloat16 copy
    with per-page norms, or an :class:`~.int16_screen.Int16Screen`.

    Build once with :meth:`from_pages` (one pass over the pages); either copy costs two bytes
    per value next to the stored pages.
    """

    pages: PackedPages
    screen: Any = None  # torch bfloat16 tensor (total tokens, dim): the pages rounded to bfloat16
    norm: np.ndarray | None = None  # (P,) float64: max_j |p_j| over each page's tokens (stored values)
    screen_norm: np.ndarray | None = None  # (P,) float64: max_j |b(p_j)|
    residual: np.ndarray | None = None  # (P,) float64: max_j |b(p_j) - p_j|
    int16: Int16Screen | None = None  # the integer screen, where that is the one built

    @classmethod
    def from_pages(
        cls, pages: PackedPages | Sequence[np.ndarray] | np.ndarray, page_mask: np.ndarray | None = None, *,
        block_tokens: int = 1 << 16, kind: Literal["auto", "bfloat16", "int16"] = "auto",
        copy_to: CopyAllocator | None = None,
    ) -> "ScreenedPages":
        """Build the screen ``kind`` (``"auto"``: :func:`stored_screen_kind`) and measure the
        norms its bound needs. ``copy_to(shape, dtype)`` gives the array the copy is written to
        (the int16 planes, or the bfloat16 bit patterns as uint16): an index's save passes a
        memory-mapped file; default, a new array."""
        packed = as_packed(pages, page_mask)
        kind = stored_screen_kind() if kind == "auto" else kind  # type: ignore[assignment]
        if kind == "int16":
            return cls(packed, int16=Int16Screen.from_pages(packed, copy_to=copy_to))
        if kind != "bfloat16":
            raise InputError(f"kind must be 'auto', 'bfloat16' or 'int16', got {kind!r}", input_name="kind")
        torch = _torch()
        src = _as_tensor(packed.tokens)
        if copy_to is None:
            screen = torch.empty(src.shape, dtype=torch.bfloat16)
        else:  # bfloat16 written as its bit patterns: numpy has no bfloat16
            screen = _as_tensor(copy_to(tuple(src.shape), np.dtype(np.uint16)).view(np.int16)).view(torch.bfloat16)
        rows = np.empty((3, src.shape[0]), dtype=np.float32)
        with torch.inference_mode():
            for r0 in range(0, src.shape[0], block_tokens):
                x = src[r0 : r0 + block_tokens].float()
                b = x.to(torch.bfloat16)
                screen[r0 : r0 + block_tokens] = b
                bf = b.float()
                rows[0, r0 : r0 + len(x)] = torch.linalg.vector_norm(x, dim=1).numpy()
                rows[1, r0 : r0 + len(x)] = torch.linalg.vector_norm(bf, dim=1).numpy()
                rows[2, r0 : r0 + len(x)] = torch.linalg.vector_norm(bf - x, dim=1).numpy()
        per_page = np.maximum.reduceat(rows, packed.offsets[:-1], axis=1).astype(np.float64) * _slack(packed.dim)
        return cls(packed, screen, per_page[0], per_page[1], per_page[2])

    def __post_init__(self) -> None:
        if self.int16 is not None and not self.int16.fits(self.pages):
            raise InputError("the int16 screen was built from other pages (its blocks, pages or dimension differ)",
                             input_name="int16")

    def __len__(self) -> int:
        return len(self.pages)

    @property
    def kind(self) -> str | None:
        """The screen held: ``"bfloat16"``, ``"int16"`` or None."""
        return "bfloat16" if self.screen is not None else "int16" if self.int16 is not None else None

    def screen_here(self) -> str | None:
        """The held screen :meth:`exact_topk` runs here, or None for the float32 scan: bfloat16
        where :func:`screen_kind` says so, or where it is native and held without an int16 copy
        (:func:`held_bfloat16_runs`; emulated, it is far slower than the scan), the integer
        screen wherever its kernel runs and some screen is wanted."""
        here = screen_kind()
        bf16_held = self.screen is not None and self.screen.shape[0] == self.pages.tokens.shape[0]
        if bf16_held and (here == "bfloat16" or (here == "int16" and self.int16 is None and held_bfloat16_runs())):
            return "bfloat16"
        if here is not None and self.int16 is not None and int16_screen_available():
            return "int16"
        return None

    def exact_topk(
        self, queries: Sequence[np.ndarray] | np.ndarray, k: int, *, live: np.ndarray | None = None,
        block_tokens: int = DEFAULT_BLOCK_TOKENS,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The float32 MaxSim top ``k`` per query: ``(scores, page indices)``, each ``(Q, k)``.

        Identical, bit for bit, to ``top_k(maxsim(queries, self.pages), k)`` (ties toward the
        lower page index), computed through the screen where it runs here (:meth:`screen_here`),
        else by that scan. Per query: its ``k`` best
        screened pages are rescored in float32, and their ``k``-th exact score is a lower bound
        of the true ``k``-th score; only pages whose certified upper bound reaches it are
        rescored too. Each query does both on one thread, with its own query columns only (the
        products' bits are the scan's whatever the other columns and rows: checked once per
        shape and thread count by :func:`_columns_independent`), several queries at once. ``live``
        (a boolean mask) leaves pages out; ``k`` is at most the live pages. Raises
        :class:`InputError` on bad queries.
        """
        torch = _torch()
        q_pad, q_mask = pack_queries(queries, dim=self.pages.dim)
        n_q = q_pad.shape[0]
        alive = np.ones(len(self), bool) if live is None else np.asarray(live)
        if alive.dtype != bool or alive.shape != (len(self),):
            raise InputError(f"live must be a boolean mask of the {len(self)} pages, got {alive.dtype} "
                             f"{alive.shape}", input_name="live")
        k = min(int_at_least(k, "k", 0), int(alive.sum()))
        if k <= 0:
            return np.zeros((n_q, 0), np.float32), np.zeros((n_q, 0), np.int64)
        use = self.screen_here()
        if use == "int16":
            assert self.int16 is not None
            approx, eps = self.int16.scores(q_pad, q_mask, int(torch.get_num_threads()))
            if not np.isfinite(eps).all():  # scores near float32's range: no bound, the scan answers
                use = None
        elif use == "bfloat16":
            approx, eps = self.screen_scores(q_pad, block_tokens=block_tokens)
        if use is None:
            # Emulated bfloat16 (AVX2, plain AVX-512) makes that screen far slower than the float32
            # scan whose answer it reproduces: 29.6 s against 1.2 s (bench_maxsim, 2-core AMD EPYC).
            scores = maxsim(q_pad, self.pages, block_tokens=block_tokens)  # its padding is taken apart again
            scores[:, ~alive] = -np.inf
            return top_k(scores, k)
        approx[:, ~alive] = -np.inf
        upper = approx + eps
        first = np.sort(np.argpartition(-approx, k - 1, axis=1)[:, :k], axis=1)
        exact = np.full(approx.shape, -np.inf, dtype=np.float32)
        n_tok, dim = q_pad.shape[1:]
        counts = q_mask.sum(1)
        few_full = few_query_tokens(n_q * n_tok, self.pages.lengths)
        direct = widens_in_place(self.pages)
        # Each query's products in the layout with its tokens on the rows where those bits are
        # the scan's (with a query's 20 tokens there, its pages widened four at a time into a
        # buffer by widened_token_maxima, rescoring ran ~3x faster than in the scan's layout of
        # 320 query columns: 0.10 against 0.30 ms per ColPali page, 1 thread, AMD EPYC), else
        # in the scan's layout. That layout needs each product's pages of one length, which
        # widened_token_maxima makes and a gathered copy (other stored dtypes) does not.
        layouts = dict.fromkeys((True, few_full) if direct else (few_full,))
        few = next((f for f in layouts if _columns_independent(dim, n_tok, n_q * n_tok, few_full, f)), None)
        if few is None:  # no layout of one query's columns has the scan's bits: all columns at once
            self._rescore_all(q_pad, q_mask, first, upper, alive, exact, k)
            return top_k(exact, k)

        def make_work() -> Any:  # one query at a time per thread, each with its own buffer
            buf = rows_buffer(self.pages, np.flatnonzero(alive)) if direct else None

            def rescore(i: int, ids: np.ndarray) -> None:
                q_t = torch.from_numpy(np.ascontiguousarray(q_pad[i])).T.contiguous()
                if buf is not None:
                    best = widened_token_maxima(q_t, self.pages, ids, buf, bool(few))
                else:
                    sub = self.pages.select(ids)
                    best = token_maxima(q_t, _as_tensor(sub.tokens), sub.offsets, sub.lengths, DEFAULT_BLOCK_TOKENS,
                                        few=few_full)
                # The per-page sum maxsim does: over the query's own tokens.
                exact[i, ids] = query_sums(best.view(ids.size, 1, n_tok), counts[i : i + 1])[:, 0].numpy()

            def work(i: int) -> None:
                rescore(i, first[i])
                # k rescored live pages: their k-th score is at most the true k-th score, and a page
                # of the exact top k (ties at the k-th score included) has upper >= its score >= it.
                threshold = -np.partition(-exact[i], k - 1)[k - 1]
                need = (upper[i] >= threshold) & alive
                need[first[i]] = False
                if need.any():
                    rescore(i, np.flatnonzero(need))

            return work

        on_query_threads(n_q, make_work)
        done = np.isfinite(exact)  # the rescored pages
        check_within_bound(exact[done], approx[done], eps[done], "pages")
        return top_k(exact, k)

    def _rescore_all(self, q_pad: np.ndarray, q_mask: np.ndarray, first: np.ndarray, upper: np.ndarray, alive: np.ndarray,
                     exact: np.ndarray, k: int) -> None:
        """:meth:`exact_topk`'s rescoring where only the scan's own product shape has its bits:
        the pages any query needs, with all the query columns, as the scan multiplies (slower)."""
        torch = _torch()
        n_q, n_tok, _ = q_pad.shape
        few_full = few_query_tokens(n_q * n_tok, self.pages.lengths)

        def rescore(ids: np.ndarray) -> None:
            sub = self.pages.select(ids)
            q_t = torch.from_numpy(np.ascontiguousarray(q_pad.reshape(n_q * n_tok, -1))).T.contiguous()
            with torch.inference_mode():
                best = token_maxima(q_t, _as_tensor(sub.tokens), sub.offsets, sub.lengths, DEFAULT_BLOCK_TOKENS,
                                    few=few_full)
            exact[:, ids] = query_sums(best.view(ids.size, n_q, n_tok), q_mask.sum(1)).T.contiguous().numpy()

        done = np.zeros(exact.shape, bool)
        np.put_along_axis(done, first, True, axis=1)
        rescore(np.flatnonzero(done.any(0)))
        threshold = -np.partition(-exact, k - 1, axis=1)[:, k - 1 : k]
        need = (upper >= threshold) & alive & ~done
        if need.any():
            rescore(np.flatnonzero(need.any(0)))

    def screen_scores(self, q_pad: np.ndarray, *, block_tokens: int = DEFAULT_BLOCK_TOKENS) -> tuple[np.ndarray, np.ndarray]:
        """bfloat16 MaxSim of zero-padded ``(Q, n, d)`` float32 queries and its bound: two
        ``(Q, P)`` float64 arrays ``(approx, eps)`` with ``|approx - float32 score| <= eps``."""
        torch = _torch()
        if self.screen is None or self.norm is None or self.screen_norm is None or self.residual is None:
            raise InputError("these pages hold no bfloat16 screen (built with kind='int16')", input_name="pages")
        n_q, n_tok, dim = q_pad.shape
        q_bf = torch.from_numpy(q_pad.reshape(-1, dim)).to(torch.bfloat16).T.contiguous()
        best = token_maxima(q_bf, self.screen, self.pages.offsets, self.pages.lengths, block_tokens)
        approx = best.view(len(self), n_q, n_tok).sum(-1).T.numpy().astype(np.float64)
        abs_sum = best.abs().view(len(self), n_q, n_tok).sum(-1).T.numpy().astype(np.float64) * _slack(n_tok)
        return approx, screen_bounds(q_pad, abs_sum, self.norm, self.screen_norm, self.residual)


def screen_bounds(
    q_pad: np.ndarray, abs_sum: np.ndarray, norm: np.ndarray, screen_norm: np.ndarray, residual: np.ndarray
) -> np.ndarray:
    """``(Q, P)`` float64 bound on |bfloat16-screened score - float32 score| (module docstring).

    ``q_pad``: ``(Q, n, d)`` float32 zero-padded queries; ``abs_sum``: per query and page, the
    sum over query tokens of the absolute screened per-token maxima; the page arrays are the
    per-page maxima kept by :class:`ScreenedPages`.
    """
    torch = _torch()
    n_q, n_tok, dim = q_pad.shape
    if not (np.isfinite(norm).all() and np.isfinite(abs_sum).all()):
        raise InputError("screen bound is not finite; pages or queries overflow bfloat16", input_name="pages")
    q64 = q_pad.astype(np.float64)
    qb = torch.from_numpy(q_pad).to(torch.bfloat16).double().numpy()
    g = gamma(dim)
    slack = 1.0 + 1e-9  # float64 norms of float32 values: rounding far below 1e-9
    qn = np.linalg.norm(q64, axis=-1).sum(1) * slack  # sum_i |q_i|
    qbn = np.linalg.norm(qb, axis=-1).sum(1) * slack  # sum_i |b(q_i)|
    qr = np.linalg.norm(qb - q64, axis=-1).sum(1) * slack  # sum_i |b(q_i) - q_i|
    out_round = U_BF16 / (1.0 - U_BF16)
    tokens = (
        qbn[:, None] * (g * screen_norm + residual)[None, :]
        + (qr + g * qn)[:, None] * norm[None, :]
        + out_round * abs_sum
    )
    g_n = gamma(n_tok)
    # float32 sums over query tokens, screened and exact: g_n of each absolute sum.
    eps = (1.0 + g_n) * tokens + 2.0 * g_n * abs_sum
    # Float64 rounding of this bookkeeping and flushed float32 subnormals: a hair more.
    bound: np.ndarray = eps * (1.0 + 1e-9) + n_tok * 2.0**-100
    return bound
