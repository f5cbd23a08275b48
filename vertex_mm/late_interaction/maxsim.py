"""MaxSim late interaction (ColBERT, ColPali): for each query token take the best dot product
over a page's vectors, then sum over the query's tokens.

    score(q, p) = sum_i max_j <q_i, p_j>

The scorer here is fused: pages are scored a block of a few thousand token rows at a time
(one matrix product ``block @ queries.T`` that fits in cache, then the per-page max), so the
``(query tokens x all page tokens)`` similarity matrix is never written to memory. That, not
the arithmetic, is what makes a plain ``einsum("bnd,csd->bcns")`` slow on a CPU: it writes and
re-reads a 4-byte float for every (query token, page token) pair.

``compute`` picks the arithmetic:

* ``"float32"`` (default): exact float32 products; pages stored as float16 are widened a block at
  a time.
* ``"bfloat16"``: inputs rounded to bfloat16, products accumulated in float32 (AVX512-BF16 / AMX
  on x86, where it runs about 4-5x faster than float32). A score moves by about 1e-3 per query
  token; rankings of clearly separated pages do not change, near-ties may swap. It is a speed
  option: on a CPU without native bfloat16 (:func:`~vertex_mm._device.cpu_has_native_bf16`:
  AVX2, plain AVX-512), where torch emulates it about 27 times slower than float32, the scorer
  computes float32 instead.

All queries are scored in one pass over the pages (their tokens stack into one matrix), so a
batch of queries costs one read of the collection.

``device`` picks where (:mod:`vertex_mm._device`): ``"cpu"`` (the default: the pages live in
host memory, and the CPU paths here and in :mod:`.screened` and :mod:`.binary` are built for
it), ``"cuda"``/``"cuda:N"``, or ``"auto"`` (CUDA when torch sees a GPU). On CUDA the pages are
copied to the GPU in blocks of about 256 MiB for each call (in their stored dtype, so float16
pages move half the bytes), scored there, and only the ``(queries, pages)`` scores come back.
float32 products on the GPU are float32 (torch's default: no TF32), so scores agree with the
CPU's to float rounding, not bit for bit. ``"cuda"`` without a GPU runs on the CPU with a
:class:`~vertex_mm._device.DeviceFallbackWarning`. To query one collection many times, copy it
once with :func:`to_device`: :class:`DevicePages` are scored where they are, with no copy per call.

torch is imported inside the functions: ``import vertex_mm`` stays free of it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._device import check_device, cpu_has_native_bf16, resolve_device
from ..errors import InputError
from ._threads import _torch as _torch  # the one loader of torch here; re-exported for the other modules
from ._threads import on_query_threads
from .packed import PackedPages, PagesEndToEnd, as_packed, gather_rows, int_at_least, pack_queries

__all__ = ["COMPUTE_DTYPES", "MIN_PRODUCT_SIDE", "DevicePages", "few_query_tokens", "gpu_block_tokens", "maxsim",
           "maxsim_reference", "maxsim_topk", "to_device", "token_maxima", "top_k"]

Compute = Literal["float32", "bfloat16"]
COMPUTE_DTYPES: tuple[str, ...] = ("float32", "bfloat16")

# Token rows per fused block. 8192 rows x 128 dims is 2 MiB of bfloat16/4 MiB of float32 and
# the (rows x query tokens) block of scores stays in L2/L3; measured best between 4k and 16k.
DEFAULT_BLOCK_TOKENS = 8192
# On a GPU a block is sized by bytes instead: page rows plus their scores, about 256 MiB, so
# each host-to-device copy is large and the kernels are long enough to fill the device.
GPU_BLOCK_BYTES = 256 << 20
# Every product has at least this many rows and columns (zero padding, results cut back):
# narrower float32 products take other BLAS kernels, which round some dot products
# differently in the last bit; from 12 up (measured, oneDNN on x86) element (i, j) of a
# product has the same bits whatever the other rows and columns, which is what lets a
# rescoring of some pages or some queries (screened.py, _rerank.py) reproduce the full scan.
MIN_PRODUCT_SIDE = 16


def _as_tensor(arr: np.ndarray) -> Any:
    torch = _torch()
    with warnings.catch_warnings():
        # Read-only memory maps: torch warns that the tensor is not writable; we never write.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(arr) if not arr.flags.c_contiguous else arr)


def _torch_dtype(compute: str, *, on_cpu: bool = True) -> Any:
    """The torch dtype that computes ``compute``: float32 for ``"bfloat16"`` on a CPU that only
    emulates it (module docstring; there it ran at 3 GFLOP/s against float32's 145, AVX2)."""
    torch = _torch()
    if compute == "float32":
        return torch.float32
    if compute == "bfloat16":
        return torch.bfloat16 if not on_cpu or cpu_has_native_bf16() else torch.float32
    raise InputError(f"compute must be one of {COMPUTE_DTYPES}, got {compute!r}", input_name="compute")


def _engine_device(device: Any, stacklevel: int = 4) -> Any:
    """``None`` for the CPU (the code path as it always was), else the GPU's ``torch.device``.

    Raises :class:`InputError` for a bad name; warns (DeviceFallbackWarning) when CUDA was asked
    for and torch sees none. ``stacklevel`` points the warning at the user's call.
    """
    if check_device(device) == "cpu":
        return None
    where = resolve_device(device, stacklevel=stacklevel)
    return None if where.type == "cpu" else where


def gpu_block_tokens(dim: int, query_tokens: int) -> int:
    """Page rows per block on a GPU: :data:`GPU_BLOCK_BYTES` of float32 rows and scores."""
    return max(DEFAULT_BLOCK_TOKENS, GPU_BLOCK_BYTES // (4 * (int(dim) + int(query_tokens))))


@dataclass(frozen=True)
class DevicePages(PagesEndToEnd):
    """Pages held on a device (a GPU) for repeated :func:`maxsim` calls: ``tokens`` is the
    ``(total tokens, dim)`` torch tensor there, in the stored dtype; ``offsets`` (host numpy)
    as :class:`PackedPages`'. Made by :func:`to_device`; scored where they are, whatever the
    ``device`` argument of :func:`maxsim` says."""

    tokens: Any
    offsets: np.ndarray

    @classmethod
    def from_pages(cls, pages: PackedPages | Sequence[np.ndarray] | np.ndarray, device: Any,
                   page_mask: np.ndarray | None = None) -> "DevicePages":
        """Copy ``pages`` to the ``torch.device`` ``device`` (one copy of every row)."""
        packed = as_packed(pages, page_mask)
        return cls(_as_tensor(packed.tokens).to(device), packed.offsets)

    @property
    def device(self) -> Any:
        return self.tokens.device

    @property
    def nbytes(self) -> int:
        return int(self.tokens.numel() * self.tokens.element_size())

    def select(self, indices: Sequence[int] | np.ndarray) -> "DevicePages":
        """The given pages, in that order: one gather on the device."""
        torch = _torch()
        rows, offsets = gather_rows(self.offsets, indices)
        return DevicePages(self.tokens[torch.from_numpy(rows).to(self.tokens.device)], offsets)


def to_device(pages: PackedPages | Sequence[np.ndarray] | np.ndarray, device: Any = "auto", *,
              page_mask: np.ndarray | None = None) -> DevicePages | PackedPages:
    """Pages ready for many :func:`maxsim` calls on ``device``: :class:`DevicePages` on a GPU
    (copied once; they take their stored bytes of GPU memory), the host :class:`PackedPages`
    when ``device`` is or falls back to the CPU (with a
    :class:`~vertex_mm._device.DeviceFallbackWarning` for ``"cuda"`` without a GPU)."""
    where = _engine_device(device, stacklevel=4)
    if where is None:
        return as_packed(pages, page_mask)
    return DevicePages.from_pages(pages, where, page_mask)


def _blocks(lengths: np.ndarray, block_tokens: int) -> list[tuple[int, int]]:
    """Split pages into runs of consecutive pages holding about ``block_tokens`` rows each."""
    if lengths.size and np.all(lengths == lengths[0]):
        per = max(1, block_tokens // max(int(lengths[0]), 1))
        return [(s, min(s + per, lengths.size)) for s in range(0, lengths.size, per)]
    out, start, acc = [], 0, 0
    for i, n in enumerate(lengths.tolist()):
        if acc and acc + n > block_tokens:
            out.append((start, i))
            start, acc = i, 0
        acc += n
    if start < lengths.size:
        out.append((start, int(lengths.size)))
    return out


def _amax(x: Any, dim: int) -> Any:
    """``x.amax(dim)``, faster on the CPU: bfloat16 and float32 compared as integers.

    A non-negative float's bits, read as a signed integer of its width, order as the float
    does, and every negative float (sign bit set) reads as a negative integer: so where each
    maximum is at least +0 the integer maximum is the float maximum, bit for bit. torch
    reduces integers with plain vector max instructions, where a float max also tracks NaN:
    the per-page max of a bfloat16 product (7 ColPali pages x 320 query tokens) took 0.06 ms
    as int16 against 0.47 ms as bfloat16, of float32 0.13 against 0.23 ms (1 thread, AMD EPYC).
    Any maximum below +0 (or -0 itself) shows as a negative integer: then the float max runs.
    One difference, harmless here: a maximum over +0 and -0 is +0 by integers, either by
    torch's float max (a float32 product of finite values never yields -0 next to +0 at the
    top of a column, and the two compare equal anyway).
    """
    torch = _torch()
    as_int = {torch.bfloat16: torch.int16, torch.float32: torch.int32}.get(x.dtype)
    if as_int is None or x.device.type != "cpu":
        return x.amax(dim)
    m = x.view(as_int).amax(dim)
    if bool((m < 0).any()):
        return x.amax(dim)
    return m.view(x.dtype)


def _page_max(scores: Any, lengths: np.ndarray) -> Any:
    """Per-page max over the rows of ``scores`` (rows of consecutive pages, ``lengths`` each)."""
    torch = _torch()
    n = int(lengths[0])
    if np.all(lengths == n):
        return _amax(scores.view(lengths.size, n, scores.shape[1]), 1)
    # Ragged block: gather into (pages, max_len) with each short page padded by repeating its
    # last real row. A repeated real row cannot change a max, so no -inf mask is needed.
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n_max = int(lengths.max())
    idx = np.minimum(starts[:, None] + np.arange(n_max)[None, :], (starts + lengths - 1)[:, None])
    return _amax(scores[torch.from_numpy(idx).to(scores.device)], 1)


def maxsim(
    queries: Sequence[np.ndarray] | np.ndarray,
    pages: PackedPages | DevicePages | Sequence[np.ndarray] | np.ndarray,
    *,
    page_mask: np.ndarray | None = None,
    compute: Compute = "float32",
    block_tokens: int | None = None,
    page_ids: np.ndarray | Sequence[int] | None = None,
    device: Any = "cpu",
) -> np.ndarray:
    """MaxSim scores of every query against every page: a ``(queries, pages)`` float32 array.

    ``page_ids`` scores only those pages (columns in that order): a rerank reads just its
    candidates from a memory map. ``device``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or
    ``"auto"`` (module docstring). ``block_tokens``: page rows per fused block (default
    :data:`DEFAULT_BLOCK_TOKENS` on the CPU, :func:`gpu_block_tokens` on a GPU).

    ``queries``: a list of ``(n_q, d)`` token matrices (or one, or a zero-padded ``(Q, n, d)``
    batch). ``pages``: :class:`PackedPages`, :class:`DevicePages`, a list of ``(n_p, d)``
    matrices, or a padded ``(P, n, d)`` batch with ``page_mask`` marking real tokens. Float16
    pages are read as they are stored. Raises :class:`~vertex_mm.errors.InputError` on mismatched dimensions,
    empty pages or queries, or non-finite values.
    """
    torch = _torch()
    packed: PackedPages | DevicePages
    if isinstance(pages, DevicePages):
        packed, where = pages, pages.device
    else:
        where = _engine_device(device)
        packed = as_packed(pages, page_mask)
    q_pad, q_mask = pack_queries(queries, dim=packed.dim)
    n_q, n_tok, dim = q_pad.shape
    dtype = _torch_dtype(compute, on_cpu=where is None or where.type == "cpu")  # DevicePages may sit on the CPU
    q_t = torch.from_numpy(q_pad.reshape(-1, dim)).to(dtype).T.contiguous()  # (dim, Q*n)
    if where is not None:
        q_t = q_t.to(where)
    if block_tokens is None:
        block_tokens = DEFAULT_BLOCK_TOKENS if where is None else gpu_block_tokens(dim, q_t.shape[1])
    if page_ids is not None:
        ids = np.asarray(page_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(packed)):
            raise InputError(f"page_ids must lie in [0, {len(packed)})", input_name="page_ids")
        # One numpy gather of the candidates (~1 ms for 64 ColPali pages) beats gathering
        # rows block by block through torch.
        packed = packed.select(ids)
        if not len(packed):
            return np.zeros((n_q, 0), np.float32)
    tokens = packed.tokens if isinstance(packed, DevicePages) else _as_tensor(packed.tokens)
    best = token_maxima(q_t, tokens, packed.offsets, packed.lengths, block_tokens)
    # (P, Q, n) -> each query's sum over its own tokens -> (Q, P). (.cpu() is the tensor itself
    # on the CPU: no copy there.)
    scores: np.ndarray = query_sums(best.view(len(packed), n_q, n_tok), q_mask.sum(1)).T.contiguous().cpu().numpy()
    return scores


def query_sums(best: Any, counts: np.ndarray) -> Any:
    """Scores from per-token maxima: ``best`` ``(pages, queries, n)`` -> ``(pages, queries)``,
    each query summed over its own first ``counts[q]`` tokens only.

    Padding adds exactly 0, but torch's sum of a row adds in an order that depends on the row's
    length: a query padded to a longer one in its batch got other last bits than the same query
    alone, so one search's modes could rank tied pages differently. Every MaxSim path sums here,
    so a query's scores depend on it and the pages only."""
    n_q, n = int(best.shape[1]), int(best.shape[2])
    if (np.asarray(counts) == n).all():
        return best.sum(-1)
    out = best.new_empty(best.shape[:2])
    for q in range(n_q):
        out[:, q] = best[:, q, : int(counts[q])].sum(-1)
    return out


def token_maxima(q_t: Any, tokens: Any, offsets: np.ndarray, lengths: np.ndarray,
                 block_tokens: int = DEFAULT_BLOCK_TOKENS, *, few: bool | None = None) -> Any:
    """Per page and query token, the best dot product: a ``(pages, query tokens)`` float32 tensor.

    ``q_t`` is the ``(dim, query tokens)`` query matrix already in the compute dtype and on the
    device that computes; ``tokens`` the ``(rows, dim)`` page rows as a tensor (moved to that
    device and widened to ``q_t``'s dtype a block at a time); the result is on that device.
    The arithmetic is what :func:`maxsim` does; the certified screen reuses it as is.
    ``few`` forces the layout (:func:`few_query_tokens` picks it by default; ``True`` needs
    pages of equal length): a rescoring of some pages then multiplies as the full scan did.
    """
    torch = _torch()
    dtype = q_t.dtype
    n_out = int(lengths.size)
    best = torch.empty(n_out, q_t.shape[1], dtype=torch.float32, device=q_t.device)
    # Few query tokens (a rerank of one query): put them on the rows so the per-page max runs
    # over the contiguous last axis; a max over a middle axis only 20 wide is ~30x slower.
    if few is None:
        few = few_query_tokens(q_t.shape[1], lengths)
    elif few and not (lengths.size and np.all(lengths == lengths[0])):
        raise ValueError("few=True needs pages of equal length")
    n_cols = int(q_t.shape[1])
    if n_cols < MIN_PRODUCT_SIDE:
        q_t = torch.cat([q_t, q_t.new_zeros(q_t.shape[0], MIN_PRODUCT_SIDE - n_cols)], 1)
    q_rows = q_t.T.contiguous() if few else None
    blocks = _blocks(lengths, block_tokens)

    def one_block(p0: int, p1: int) -> None:
        block = tokens[int(offsets[p0]) : int(offsets[p1])]
        if block.device != q_t.device:
            block = block.to(q_t.device)  # stored dtype: float16 pages move half the bytes
        if block.dtype != dtype:
            block = block.to(dtype)
        n_rows = int(block.shape[0])
        if n_rows < MIN_PRODUCT_SIDE:
            block = torch.cat([block, block.new_zeros(MIN_PRODUCT_SIDE - n_rows, block.shape[1])])
        if few:
            prod = q_rows @ block.T
            if prod.shape != (n_cols, n_rows):
                prod = prod[:n_cols, :n_rows].contiguous()
            best[p0:p1] = _amax(prod.view(n_cols, p1 - p0, int(lengths[0])), -1).T.float()  # (pages, Q*n)
        else:
            prod = block @ q_t
            if prod.shape != (n_rows, n_cols):
                prod = prod[:n_rows, :n_cols].contiguous()
            best[p0:p1] = _page_max(prod, lengths[p0:p1]).float()

    if not few and q_t.device.type == "cpu" and len(blocks) >= 2 * torch.get_num_threads():
        # Blocks of pages spread over the cores, each product on one torch thread: each core
        # then takes the per-page max of its own product while it is still in its cache. The
        # bfloat16 screen ran 1.15-1.3x faster than with each product split over both cores
        # (float32 1.06x), with the same bits here (the rescoring check in .screened covers both).
        on_query_threads(len(blocks), lambda: lambda i: one_block(*blocks[i]))
    else:
        with torch.inference_mode():
            for p0, p1 in blocks:
                one_block(p0, p1)
    return best


def few_query_tokens(n_query_tokens: int, lengths: np.ndarray) -> bool:
    """Whether the scorer puts query tokens on the matrix rows (see :func:`token_maxima`)."""
    return n_query_tokens < 64 and bool(np.all(lengths == lengths[0]))


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns of each row of ``scores``: ``(values, indices)``, best first.

    Ties break toward the lower page index, so rankings are reproducible. ``k`` is an integer
    >= 0 (:class:`InputError` otherwise).
    """
    k = min(int_at_least(k, "k", 0), scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), np.float32), np.zeros((scores.shape[0], 0), np.int64)
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    vals = np.take_along_axis(scores, part, axis=1)
    # Sort by (-score, index): lexsort uses the last key as primary.
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    # argpartition picks arbitrarily among scores tied at the k-th value: redo those rows from
    # every tied column so the lower page index wins there too.
    kth = np.take_along_axis(scores, idx[:, -1:], axis=1)
    for row in np.flatnonzero((scores >= kth).sum(1) > k).tolist():
        cand = np.flatnonzero(scores[row] >= kth[row])
        idx[row] = cand[np.lexsort((cand, -scores[row, cand]))[:k]]
    return np.take_along_axis(scores, idx, axis=1), idx.astype(np.int64)


def maxsim_topk(
    queries: Sequence[np.ndarray] | np.ndarray,
    pages: PackedPages | DevicePages | Sequence[np.ndarray] | np.ndarray,
    k: int,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`maxsim` followed by :func:`top_k`: ``(scores, page indices)``, each ``(Q, k)``.

    Pages prepared as :class:`~vertex_mm.late_interaction.screened.ScreenedPages` take the
    certified path for ``compute="float32"`` (the default): a screen with a rigorous error
    bound (bfloat16 where the CPU has it natively, 16-bit integers on other x86 CPUs with AVX2),
    then float32 rescoring of the pages the bound cannot rule out. The result is identical to
    the plain float32 scorer's, about twice as fast on ColPali-sized collections (elsewhere that
    scorer answers: see :mod:`.screened`).
    The screen is a CPU path: on a GPU (``device="cuda"`` or ``"auto"`` with one) the plain
    float32 scan runs there instead.
    """
    k = int_at_least(k, "k", 0)  # the screened and the plain path refuse a bad k alike
    where = _engine_device(kwargs.get("device", "cpu"))  # resolved (and any fallback warned) once
    kwargs["device"] = "cpu" if where is None else where
    if hasattr(pages, "exact_topk"):
        # Duck-typed so this module need not import screened.py (which imports this one).
        on_cpu = kwargs["device"] == "cpu"
        if on_cpu and kwargs.get("compute", "float32") == "float32" and kwargs.get("page_ids") is None:
            block_tokens = kwargs.get("block_tokens") or DEFAULT_BLOCK_TOKENS
            exact: tuple[np.ndarray, np.ndarray] = pages.exact_topk(queries, k, block_tokens=block_tokens)
            return exact
        pages = pages.pages  # type: ignore[union-attr]
    return top_k(maxsim(queries, pages, **kwargs), k)


def maxsim_reference(queries: Sequence[np.ndarray], pages: Sequence[np.ndarray]) -> np.ndarray:
    """MaxSim written the obvious way in float64 numpy; the ground truth tests compare against."""
    out = np.empty((len(queries), len(pages)), dtype=np.float64)
    for i, q in enumerate(queries):
        q64 = np.asarray(q, dtype=np.float64)
        for j, p in enumerate(pages):
            out[i, j] = (q64 @ np.asarray(p, dtype=np.float64).T).max(axis=1).sum()
    return out
