"""Exact integer MaxSim of 16-bit vectors (``vpmaddwd``): the AVX2 kernel of the int16 screen.

:mod:`.int16_screen` rounds page and query tokens to 16-bit integers; this kernel gives, for
each query token and page, the largest integer dot product over the page's tokens, exactly
(32-bit sums that cannot overflow: the caller keeps every token's norm under
:data:`._int16_layout.NORM_LIMIT`, and a partial sum of a dot product is at most the product
of the norms).

Page tokens are stored for it in "planes" (:func:`build_planes`): each page's tokens padded to
a multiple of 8 with copies of its first token (a copy changes no maximum), each block of 8
tokens as ``pairs`` rows of 8 int32 lanes, lane ``j`` of row ``k`` holding values ``2k`` and
``2k + 1`` of token ``j``. One ``vpmaddwd`` multiplies a row by a query token's pair
(broadcast) and adds each token's two products: 16 multiplies. Four query tokens share each
load of a row, two blocks share each broadcast of a query pair.

Measured (one thread, AMD EPYC Zen 3, AVX2; 320 query tokens x 200 pages of 1,032 tokens x
128 values): 67-70 G multiply-adds/s for 3-8 query tokens by 1-2 blocks per step, against
37-42 for torch's float32 product in the float32 scan's shape (bench_maxsim's "float32 peak").

The ``vpmaddwd`` comes from an LLVM intrinsic through numba's ``@intrinsic``: compile it only
where LLVM targets AVX2 (:func:`available`), or LLVM stops the process.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types

from ._host_cpu import numba_targets_avx2
from ._int16_layout import BLOCK_TOKENS, QUERY_GROUP, VALUES_STEP
from ._ir import I32, cgutils, const, in_steps, intrinsic

__all__ = ["GROUP_TOKENS", "PAIRS_STEP", "available", "build_planes", "int16_maxsim_ids", "int16_maxsim_range",
           "round_rows", "row_norms"]

GROUP_TOKENS = QUERY_GROUP
_BLOCKS_PER_STEP = 2  # blocks that share one broadcast of a query pair
#: Value pairs per loop step: callers pad the values to a multiple of twice this.
PAIRS_STEP = VALUES_STEP // 2


def available() -> bool:
    """Whether this kernel can be compiled here (:func:`._host_cpu.numba_targets_avx2`)."""
    return numba_targets_avx2()


_V8 = ir.VectorType(I32, 8)
_V16 = ir.VectorType(ir.IntType(16), 16)


@intrinsic  # type: ignore[untyped-decorator]  # numba: no annotations
def _group_maxima(typingctx: Any, qpairs: Any, planes: Any, first_block: Any, n_blocks: Any, q_first: Any,
                  best: Any, zero: Any) -> Any:
    """``best[q_first + g]`` = max over the page's blocks ``first_block : first_block + n_blocks``
    of query token ``q_first + g``'s integer dot products, for ``g`` in ``0..GROUP_TOKENS - 1``.
    Emits LLVM IR directly: numba has no vector types."""
    sig = types.void(qpairs, planes, types.int64, types.int64, types.int64, best, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        q_arr = context.make_array(signature.args[0])(context, builder, args[0])
        qp = builder.bitcast(q_arr.data, I32.as_pointer())
        pl = builder.bitcast(context.make_array(signature.args[1])(context, builder, args[1]).data, I32.as_pointer())
        best_ptr = builder.bitcast(context.make_array(signature.args[5])(context, builder, args[5]).data,
                                   I32.as_pointer())
        start, count, q0, zero_ = args[2], args[3], args[4], args[6]
        n_pairs = cgutils.unpack_tuple(builder, q_arr.shape, 2)[1]
        mod = builder.module
        pmadd = cgutils.get_or_insert_function(mod, ir.FunctionType(_V8, [_V16, _V16]), "llvm.x86.avx2.pmadd.wd")
        smax = cgutils.get_or_insert_function(mod, ir.FunctionType(_V8, [_V8, _V8]), "llvm.smax.v8i32")
        reduce_max = cgutils.get_or_insert_function(mod, ir.FunctionType(I32, [_V8]), "llvm.vector.reduce.smax.v8i32")
        maxima = [cgutils.alloca_once_value(builder, ir.Constant(_V8, [-(2**31)] * 8)) for _ in range(GROUP_TOKENS)]
        q_rows = [builder.gep(qp, [builder.mul(builder.add(q0, const(g)), n_pairs)]) for g in range(GROUP_TOKENS)]
        block_ints = builder.mul(n_pairs, const(BLOCK_TOKENS))
        acc = [[cgutils.alloca_once(builder, _V8) for _ in range(_BLOCKS_PER_STEP)] for _ in range(GROUP_TOKENS)]

        def broadcast(ptr: Any) -> Any:
            v = builder.insert_element(ir.Constant(_V8, ir.Undefined), builder.load(ptr), ir.Constant(I32, 0))
            v = builder.shuffle_vector(v, ir.Constant(_V8, ir.Undefined), ir.Constant(ir.VectorType(I32, 8), [0] * 8))
            return builder.bitcast(v, _V16)

        def step(b: Any, n_here: int) -> None:  # blocks b .. b + n_here - 1 of the page
            bases = [builder.gep(pl, [builder.mul(builder.add(start, builder.add(b, const(t))), block_ints)])
                     for t in range(n_here)]
            # The query rows' addresses vary with b as far as LLVM knows (zero_ is 0 at run time):
            # else it may hoist the broadcasts out of the page loop into a copy on the stack.
            rows_q = [builder.gep(q_rows[g], [builder.mul(b, zero_)]) for g in range(GROUP_TOKENS)]
            for g in range(GROUP_TOKENS):
                for t in range(n_here):
                    builder.store(ir.Constant(_V8, [0] * 8), acc[g][t])
            with cgutils.for_range(builder, builder.udiv(n_pairs, const(PAIRS_STEP))) as loop:
                k0 = builder.mul(loop.index, const(PAIRS_STEP))
                sums = [[builder.load(acc[g][t]) for t in range(n_here)] for g in range(GROUP_TOKENS)]
                for u in range(PAIRS_STEP):
                    k = builder.add(k0, const(u))
                    rows = [builder.bitcast(builder.load(builder.bitcast(
                        builder.gep(base, [builder.mul(k, const(BLOCK_TOKENS))]), _V8.as_pointer()), align=4), _V16)
                        for base in bases]
                    for g in range(GROUP_TOKENS):
                        pair = broadcast(builder.gep(rows_q[g], [k]))
                        for t in range(n_here):
                            sums[g][t] = builder.add(sums[g][t], builder.call(pmadd, [rows[t], pair]))
                for g in range(GROUP_TOKENS):
                    for t in range(n_here):
                        builder.store(sums[g][t], acc[g][t])
            for g in range(GROUP_TOKENS):
                m = builder.load(maxima[g])
                for t in range(n_here):
                    m = builder.call(smax, [m, builder.load(acc[g][t])])
                builder.store(m, maxima[g])

        in_steps(builder, count, _BLOCKS_PER_STEP, step)
        for g in range(GROUP_TOKENS):
            builder.store(builder.call(reduce_max, [builder.load(maxima[g])]),
                          builder.gep(best_ptr, [builder.add(q0, const(g))]))
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(inline="always", cache=True)
def _page_sums(qpairs: Any, q_scale: Any, q_starts: Any, q_counts: Any, g: Any, planes: Any, b0: Any, n_blocks: Any,
               sp: Any, best: Any, zero: Any) -> Any:
    """Query ``g``'s ``(sum m_i, sum |m_i|)`` over one page (blocks ``b0 : b0 + n_blocks``,
    scale ``sp``): its token groups' maxima, then the sums over its real tokens."""
    for q0 in range(q_starts[g], q_starts[g + 1], GROUP_TOKENS):
        _group_maxima(qpairs, planes, b0, n_blocks, q0, best, zero)
    a = 0.0
    b = 0.0
    for i in range(q_starts[g], q_starts[g] + q_counts[g]):
        m = q_scale[i] * np.float64(best[i]) * sp
        a += m
        b += abs(m)
    return a, b


@nb.njit(cache=True, nogil=True)
def int16_maxsim_range(qpairs: Any, q_scale: Any, q_starts: Any, q_counts: Any, planes: Any, block_offsets: Any,
                       page_scale: Any, approx: Any, abs_sum: Any, start: Any, stop: Any) -> None:
    """Fill ``approx[:, start:stop]`` and ``abs_sum[:, start:stop]`` (float64, ``(queries, pages)``)
    for pages ``start:stop``: per query ``g`` and page ``p``, the sum over the query's real tokens
    ``i`` (``q_counts[g]`` from ``q_starts[g]``) of ``m_i = q_scale[i] * M_ip * page_scale[p]``,
    and of ``|m_i|``, where ``M_ip`` is the largest integer dot product of token ``i`` with the
    page's tokens. ``qpairs`` ``(tokens, pairs)`` int32 (the int16 values in pairs; each query's
    tokens ``q_starts[g]:q_starts[g + 1]`` padded to a multiple of :data:`GROUP_TOKENS`, pairs of
    :data:`PAIRS_STEP`), ``planes`` ``(blocks, pairs, 8)`` int32 from :func:`build_planes`. One
    thread, without the GIL."""
    best = np.empty(qpairs.shape[0], np.int32)
    zero = block_offsets[0]  # always 0 (see _group_maxima)
    for p in range(start, stop):
        b0 = block_offsets[p]
        for g in range(q_starts.shape[0] - 1):
            approx[g, p], abs_sum[g, p] = _page_sums(qpairs, q_scale, q_starts, q_counts, g, planes, b0,
                                                     block_offsets[p + 1] - b0, page_scale[p], best, zero)


@nb.njit(cache=True, nogil=True)
def int16_maxsim_ids(qpairs: Any, q_scale: Any, q_starts: Any, q_counts: Any, planes: Any, block_offsets: Any,
                     page_scale: Any, ids: Any, approx: Any, abs_sum: Any, start: Any, stop: Any) -> None:
    """:func:`int16_maxsim_range` for each query ``g`` in ``start:stop`` over its own pages
    ``ids[g]``: ``approx[g, j]`` and ``abs_sum[g, j]`` for page ``ids[g, j]``."""
    best = np.empty(qpairs.shape[0], np.int32)
    zero = block_offsets[0]
    for g in range(start, stop):
        for j in range(ids.shape[1]):
            p = ids[g, j]
            b0 = block_offsets[p]
            approx[g, j], abs_sum[g, j] = _page_sums(qpairs, q_scale, q_starts, q_counts, g, planes, b0,
                                                     block_offsets[p + 1] - b0, page_scale[p], best, zero)


# The build's two passes may reorder their float64 sums ("reassoc": vectorised, several partial
# sums). Each sum then differs from the sequential one by far less than the slack the screen adds
# to every norm and residual (1e-9 relative: int16_screen._SLACK), and the bound is built on the
# values these kernels return, whatever their rounding.
_SUMS = {"reassoc", "contract"}


@nb.njit(cache=True, nogil=True, fastmath=_SUMS)
def row_norms(x: Any, norm: Any, max_abs: Any) -> None:
    """Each float row's Euclidean norm and largest absolute value, in float64. A NaN makes the
    norm NaN (not the maximum: the caller checks the norms)."""
    for i in range(x.shape[0]):
        n2 = 0.0
        for j in range(x.shape[1]):
            v = np.float64(x[i, j])
            n2 += v * v
        m = 0.0  # in a loop of its own, so that both loops vectorise
        for j in range(x.shape[1]):
            a = abs(np.float64(x[i, j]))
            m = a if a > m else m
        norm[i] = np.sqrt(n2)
        max_abs[i] = m


@nb.njit(cache=True, nogil=True, fastmath=_SUMS)
def round_rows(x: Any, scale: Any, out: Any, residual: Any, rounded: Any) -> None:
    """``out[i, :d] = rint(x[i] / scale[i])`` (int16; the caller's scales keep them within
    +-32767), with ``|x[i] - scale[i] * out[i]|`` and ``|scale[i] * out[i]|`` in float64.

    The quotient is a product by ``1 / scale[i]`` (a division per value was most of this pass):
    it is within ``2**-52`` of the quotient, so a value lands on the other integer only at a tie,
    and never past +-32767 (the caller's scales keep ``1e-12`` of room)."""
    for i in range(x.shape[0]):
        s = scale[i]
        inv = 1.0 / s
        r2 = 0.0
        m2 = 0.0
        for j in range(x.shape[1]):
            v = np.float64(x[i, j])
            q = np.rint(v * inv)
            out[i, j] = np.int16(q)
            b = q * s
            r2 += (v - b) * (v - b)
            m2 += b * b
        residual[i] = np.sqrt(r2)
        rounded[i] = np.sqrt(m2)


@nb.njit(cache=True, nogil=True)
def _fill_planes(pairs: Any, offsets: Any, block_offsets: Any, planes: Any, start: Any, stop: Any, first_row: Any) -> None:
    n_pairs = pairs.shape[1]
    for p in range(start, stop):
        b0 = block_offsets[p]
        n = offsets[p + 1] - offsets[p]
        for t in range((block_offsets[p + 1] - b0) * 8):
            src = offsets[p] - first_row + (t if t < n else 0)  # padding: copies of the first token
            blk, lane = b0 + t // 8, t % 8
            for k in range(n_pairs):
                planes[blk, k, lane] = pairs[src, k]


def build_planes(planes: np.ndarray, pairs: np.ndarray, offsets: np.ndarray, block_offsets: np.ndarray,
                 start: int, stop: int) -> None:
    """Write pages ``start:stop`` into ``planes`` ``(blocks, pairs, 8)`` int32: ``pairs`` holds
    their rounded tokens, ``(tokens, pairs)`` int32 (int16 values in pairs), from row
    ``offsets[start]`` of the pages' token rows."""
    _fill_planes(pairs, np.asarray(offsets, np.int64), np.asarray(block_offsets, np.int64), planes, start, stop,
                 int(offsets[start]))
