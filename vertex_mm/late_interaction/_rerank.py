"""The float rerank of a two-stage search: each query's MaxSim over its own candidate pages,
bit for bit what ``maxsim(q, pages, page_ids=ids)`` gives, queries on several threads
(:func:`~._threads.on_query_threads`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._threads import on_query_threads
from .packed import PackedPages, pack_queries

__all__ = ["RERANK_BLOCK_TOKENS", "rerank", "rows_buffer", "widened_token_maxima", "widens_in_place"]


def rerank(q_list: list[np.ndarray], cand: np.ndarray, pages: PackedPages, k_out: int,
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


#: Float rows widened and multiplied at a time by the rerank (2.25 MiB of float32 at 128-d,
#: four 1,030-token ColPali pages): a block freshly widened into a buffer this size is still in
#: cache when the product reads it. One 33k-row block per query (all 32 candidates) ran the
#: product at ~40 GFLOP/s, four-page blocks at ~64: the rerank of 16 queries x 32 candidates
#: took about half the time (2 cores, AMD EPYC; 3, 4 and 8 pages per block were slower).
RERANK_BLOCK_TOKENS = 4608


def _rerank_queries(q_pad: np.ndarray, q_mask: np.ndarray, cand: np.ndarray, pages: PackedPages, k_out: int,
                    compute: str, scores: np.ndarray, index: np.ndarray) -> Callable[[int], None]:
    """One thread's ``work(i)`` for :func:`on_query_threads`: rerank query ``i`` (see :func:`_rerank`)."""
    from .maxsim import _as_tensor, _torch, _torch_dtype, few_query_tokens, token_maxima, top_k

    torch = _torch()
    dtype = _torch_dtype(compute)
    lengths_all = pages.lengths
    direct = compute == "float32" and widens_in_place(pages)
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
            best = widened_token_maxima(q_t, pages, ids, buf, few)
        else:
            offsets = np.zeros(ids.size + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            best = token_maxima(q_t, _as_tensor(pages.select(ids).tokens), offsets, lengths, int(offsets[-1]))
        s = best.view(ids.size, 1, n_tok).sum(-1).T.contiguous().numpy()
        top_s, local = top_k(s, k_out)
        scores[i], index[i] = top_s[0], ids[local[0]]

    return work


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
    from .maxsim import _as_tensor, _blocks, _torch, token_maxima

    torch = _torch()
    src = _as_tensor(pages.tokens)
    lengths = pages.lengths[ids]
    best = torch.empty((ids.size, q_t.shape[1]), dtype=torch.float32)
    starts = pages.offsets[ids].tolist()
    for p0, p1 in _blocks(lengths, RERANK_BLOCK_TOKENS):
        runs = [(p0, p1)]
        if few:  # split at each change of length
            cuts = (p0 + 1 + np.flatnonzero(np.diff(lengths[p0:p1]))).tolist()
            runs = list(zip([p0, *cuts], [*cuts, p1]))
        for r0, r1 in runs:
            offsets = np.zeros(r1 - r0 + 1, np.int64)
            np.cumsum(lengths[r0:r1], out=offsets[1:])
            for s0, a, b in zip(starts[r0:r1], offsets[:-1].tolist(), offsets[1:].tolist()):
                buf[a:b].copy_(src[s0 : s0 + b - a])
            n_rows = int(offsets[-1])
            best[r0:r1] = token_maxima(q_t, buf[:n_rows], offsets, lengths[r0:r1], n_rows, few=few)
    return best
