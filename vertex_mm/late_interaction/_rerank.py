"""The float rerank of a two-stage search: each query's MaxSim over its own candidate pages,
bit for bit what ``maxsim(q, pages, page_ids=ids)`` gives, queries on several threads
(:func:`~._threads.on_query_threads`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from ._readahead import advise_rows
from ._threads import on_query_threads
from .int16_screen import Int16Screen, int16_screen_available
from .packed import PackedPages, pack_queries

__all__ = ["RERANK_BLOCK_TOKENS", "check_within_bound", "rerank", "rows_buffer", "widened_token_maxima",
           "widens_in_place"]


def rerank(q_list: list[np.ndarray], cand: np.ndarray, pages: PackedPages, k_out: int,
           compute: str, *, screen: Int16Screen | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Float MaxSim of each query over its own candidate pages, then its top ``k_out``.

    The arithmetic is :func:`~vertex_mm.late_interaction.maxsim.maxsim`'s, op for op (the same
    :func:`token_maxima` over blocks of the same float32 rows, the same per-page sum), so
    scores are bit for bit what ``maxsim(q, pages, page_ids=ids)`` gives (each product at
    least :data:`~.maxsim.MIN_PRODUCT_SIDE` wide and on one torch thread, whose elements then
    have the scan's bits whatever the shape: on 3+ threads MKL's products of a few pages did
    not). Queries are packed and checked once for the batch.
    Queries run on several threads at once (:func:`on_query_threads`).

    With ``screen`` (the int16 screen of ``pages``, :mod:`.int16_screen`), float32 arithmetic,
    pages read in place and the integer kernel available, each query's candidates are screened
    first and only those its certified bound cannot rule out are rescored: every candidate
    whose upper bound reaches the ``k_out``-th best lower bound (:func:`_screened_scores`). The
    others score below the ``k_out``-th best, so the answer is the same, bit for bit.
    """
    q_pad, q_mask = pack_queries(q_list, dim=pages.dim)  # checks every query once
    cand = np.sort(cand, axis=1)  # sorted candidates make the gather read a memory map front to back
    scores = np.empty((len(q_list), k_out), np.float32)
    index = np.empty((len(q_list), k_out), np.int64)
    bounds = _screen_bounds(screen, q_pad, q_mask, cand, pages, compute)
    on_query_threads(len(q_list),
                     lambda: _rerank_queries(q_pad, q_mask, cand, pages, k_out, compute, scores, index, bounds))
    return scores, index


def _screen_bounds(screen: Int16Screen | None, q_pad: np.ndarray, q_mask: np.ndarray, cand: np.ndarray,
                   pages: PackedPages, compute: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(approx, eps)`` of each query's candidates through ``screen``, or None where the rerank
    rescores every candidate (no screen, another arithmetic, pages not read in place, no kernel,
    scores that may overflow float32)."""
    from ._threads import _torch

    if screen is None or compute != "float32" or not widens_in_place(pages) or not int16_screen_available():
        return None
    if not screen.fits(pages):
        raise InputError("the int16 screen was built from other pages (its blocks, pages or dimension differ)",
                         input_name="screen")
    approx, eps = screen.scores_of(q_pad, q_mask, cand, int(_torch().get_num_threads()))
    return (approx, eps) if np.isfinite(eps).all() else None


#: Float rows widened and multiplied at a time by the rerank (2.25 MiB of float32 at 128-d,
#: four 1,030-token ColPali pages): a block freshly widened into a buffer this size is still in
#: cache when the product reads it. One 33k-row block per query (all 32 candidates) ran the
#: product at ~40 GFLOP/s, four-page blocks at ~64: the rerank of 16 queries x 32 candidates
#: took about half the time (2 cores, AMD EPYC; 3, 4 and 8 pages per block were slower).
RERANK_BLOCK_TOKENS = 4608


def _rerank_queries(q_pad: np.ndarray, q_mask: np.ndarray, cand: np.ndarray, pages: PackedPages, k_out: int,
                    compute: str, scores: np.ndarray, index: np.ndarray,
                    bounds: tuple[np.ndarray, np.ndarray] | None = None) -> Callable[[int], None]:
    """One thread's ``work(i)`` for :func:`on_query_threads`: rerank query ``i`` (see :func:`_rerank`)."""
    from .maxsim import _as_tensor, _torch, _torch_dtype, few_query_tokens, token_maxima, top_k

    torch = _torch()
    dtype = _torch_dtype(compute)
    lengths_all = pages.lengths
    direct = dtype == torch.float32 and widens_in_place(pages)
    buf = rows_buffer(pages, cand) if direct else None

    def work(i: int) -> None:
        n_tok = int(q_mask[i].sum())
        q_t = torch.from_numpy(np.ascontiguousarray(q_pad[i, :n_tok])).to(dtype).T.contiguous()  # (dim, n)
        ids = cand[i]
        lengths = lengths_all[ids]
        if direct:
            # The product's layout as maxsim picks it for all of this query's candidates, not per
            # block: a block of equal-length pages among ragged ones would take the other layout.
            few = few_query_tokens(n_tok, lengths) if ids.size else False
            if bounds is not None:  # rescore only what the screen's bound cannot rule out
                s_all = _screened_scores(lambda sel: widened_token_maxima(q_t, pages, ids[sel], buf, few)
                                         .view(-1, 1, n_tok).sum(-1)[:, 0].numpy(), bounds[0][i], bounds[1][i], k_out)
                top_s, local = top_k(s_all[None, :], k_out)
                scores[i], index[i] = top_s[0], ids[local[0]]
                return
            best = widened_token_maxima(q_t, pages, ids, buf, few)
        else:
            offsets = np.zeros(ids.size + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            best = token_maxima(q_t, _as_tensor(pages.select(ids).tokens), offsets, lengths, int(offsets[-1]))
        s = best.view(ids.size, 1, n_tok).sum(-1).T.contiguous().numpy()
        top_s, local = top_k(s, k_out)
        scores[i], index[i] = top_s[0], ids[local[0]]

    return work


def _screened_scores(exact_of: Callable[[np.ndarray], np.ndarray], approx: np.ndarray, eps: np.ndarray,
                     k: int) -> np.ndarray:
    """One query's float32 scores of the candidates that can be among its ``k`` best, -inf for
    the rest: ``exact_of(positions)`` scores candidates; ``approx``/``eps`` their screen.

    The ``k`` candidates of highest lower bound ``approx - eps`` each score at least the
    ``k``-th of those bounds, so the ``k``-th best score does too: a candidate whose upper bound
    is below it cannot be among the ``k`` best (ties included). One rescoring call, not two."""
    out = np.full(approx.shape, -np.inf, np.float32)
    kth_lower = -np.partition(-(approx - eps), k - 1)[k - 1]
    need = np.flatnonzero(approx + eps >= kth_lower)
    out[need] = exact_of(need)
    check_within_bound(out[need], approx[need], eps[need], "screen")
    return out


def check_within_bound(exact: np.ndarray, approx: np.ndarray, eps: np.ndarray, input_name: str) -> None:
    """:class:`InputError` unless every rescored float32 score lies within its screen's bound: a
    screen of other pages (of the same lengths it passes the shape checks) fails here."""
    if (np.abs(exact.astype(np.float64) - approx) > eps).any():
        raise InputError("the screen does not match these pages (a score fell outside its bound)",
                         input_name=input_name)


def widens_in_place(pages: PackedPages) -> bool:
    """Whether :func:`widened_token_maxima` can read ``pages``' rows where they are."""
    return pages.tokens.dtype in (np.float16, np.float32) and bool(pages.tokens.flags.c_contiguous)


def rows_buffer(pages: PackedPages, ids: np.ndarray) -> Any:
    """A float32 buffer for :func:`widened_token_maxima` over any of the pages ``ids``: one block
    of :data:`RERANK_BLOCK_TOKENS` rows, or the longest of those pages."""
    from .maxsim import _torch

    longest = int(pages.lengths[ids].max()) if np.size(ids) else 0
    return _torch().empty((max(RERANK_BLOCK_TOKENS, longest), pages.dim), dtype=_torch().float32)


def widened_token_maxima(q_t: Any, pages: PackedPages, ids: np.ndarray, buf: Any, few: bool) -> Any:
    """:func:`~.maxsim.token_maxima` of the float32 ``(dim, n)`` queries ``q_t`` over the pages
    ``ids`` (in that order), in the layout ``few``: a ``(len(ids), n)`` float32 tensor.

    Each block of pages is widened from the stored rows straight into ``buf`` (float32, from
    :func:`rows_buffer`), page slice by page slice: that skips a gathered copy of the pages and
    keeps the widened rows in cache for the product. Exact: float16 -> float32 is lossless,
    so the product sees the rows a scan of the stored pages sees. In the ``few`` layout (query
    tokens on the product's rows) a block holds pages of one length, as that layout needs.
    """
    from .maxsim import MIN_PRODUCT_SIDE, _amax, _as_tensor, _blocks, _torch, token_maxima

    torch = _torch()
    src = _as_tensor(pages.tokens)
    lengths = pages.lengths[ids]
    n_cols = int(q_t.shape[1])
    best = torch.empty((ids.size, n_cols), dtype=torch.float32)
    advise_rows(pages.tokens, pages.offsets[ids], pages.offsets[ids] + lengths)  # a memory map: read ahead
    starts = pages.offsets[ids].tolist()
    # token_maxima's few-layout product and max, inline for blocks that need no padding: the same
    # ops (so the same bits) without its per-call set-up, a fifth of a rerank's time otherwise.
    q_rows = q_t.T.contiguous() if few and n_cols >= MIN_PRODUCT_SIDE else None
    runs = _blocks(lengths, RERANK_BLOCK_TOKENS)
    if few:  # blocks split at each change of length
        cuts = (1 + np.flatnonzero(np.diff(lengths))).tolist()
        runs = [(a, b) for p0, p1 in runs
                for a, b in zip([p0, *(c for c in cuts if p0 < c < p1)], [*(c for c in cuts if p0 < c < p1), p1])]
    for r0, r1 in runs:
        if few:  # pages of one length: they lie in buf at multiples of it
            n = int(lengths[r0])
            for j, s0 in enumerate(starts[r0:r1]):
                buf[j * n : (j + 1) * n].copy_(src[s0 : s0 + n])
            n_rows = (r1 - r0) * n
            if q_rows is not None and n_rows >= MIN_PRODUCT_SIDE:
                prod = q_rows @ buf[:n_rows].T
                best[r0:r1] = _amax(prod.view(n_cols, r1 - r0, n), -1).T
                continue
        offsets = np.zeros(r1 - r0 + 1, np.int64)
        np.cumsum(lengths[r0:r1], out=offsets[1:])
        if not few:
            for s0, a, b in zip(starts[r0:r1], offsets[:-1].tolist(), offsets[1:].tolist()):
                buf[a:b].copy_(src[s0 : s0 + b - a])
        n_rows = int(offsets[-1])
        best[r0:r1] = token_maxima(q_t, buf[:n_rows], offsets, lengths[r0:r1], n_rows, few=few)
    return best
