"""Hamming-MaxSim by nibble tables (``vpshufb``): the AVX2 kernel for 128-bit codes.

Without a vector popcount (AVX2 has none; VPOPCNTQ is AVX-512), each 64-bit popcount of the
other kernel (:mod:`._hamming_kernel`) costs about eight vector instructions. Here the XOR and
the popcount are folded into tables instead, as FAISS's "fast scan" does for product
quantisation. A query token's distance to a page token is a sum over the code's 32 nibbles:

    dist = sum_n T[n][page_nibble_n],   T[n][v] = popcount(q_n ^ v) + popcount((q_n ^ v) & m_n)

(``m`` the 2-bit query's weight mask; zero for 1-bit queries). One ``vpshufb`` looks up one
nibble position of 32 page tokens in a query token's 16-entry table, and a byte add sums them:
two instructions per nibble for 32 pairs, the same for 1-bit and 2-bit queries. The sums stay
below 256 because a token's weight is at most 128 + 127 (the caller checks the masks).

Page codes are stored for it in "planes" (:func:`build_planes`): each page's tokens padded to
a multiple of 32, each block of 32 tokens as 16 rows of 32 bytes (row ``k`` holds code byte
``k`` of the 32 tokens), so a 32-byte load is one byte position of 32 tokens. Padding lanes
are masked to 255 before the minimum.

Measured (one thread, AMD EPYC Zen 3, AVX2; 320 query tokens x 600 pages of 1,030 tokens):
2.8-3.3 G token pairs/s for 1-bit and 2-bit queries alike (20-token queries over 343-token
pages: 2.8-3.0); the popcount kernel ran 1.4 G/s for 1-bit and 0.9-1.0 G/s for 2-bit on the
same machine. Four query tokens share each load of a
code row, two blocks share each table load (1-8 tokens by 1-2 blocks measured: within 10 %).

The ``vpshufb`` comes from an LLVM intrinsic through numba's ``@intrinsic``: compile it only
where LLVM targets AVX2 (:func:`available`), or LLVM stops the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types

from ._hamming_kernel import thread_count
from ._host_cpu import numba_targets_avx2
from ._ir import I32, I64, cgutils, const, in_steps, intrinsic

__all__ = ["BLOCK_TOKENS", "GROUP_TOKENS", "available", "build_planes", "nibble_maxsim_range", "query_tables",
           "thread_count"]

#: Page tokens per block: one byte lane each in a 256-bit register.
BLOCK_TOKENS = 32
#: Query tokens per pass over a page: their sums stay in registers (callers pad to a multiple).
GROUP_TOKENS = 4
_BLOCKS_PER_STEP = 2  # blocks that share one load of a query token's table
_CODE_BYTES = 16  # 128-bit codes: two uint64 words


def available() -> bool:
    """Whether this kernel can be compiled here (:func:`._host_cpu.numba_targets_avx2`)."""
    return numba_targets_avx2()


_I8 = ir.IntType(8)
_V32 = ir.VectorType(_I8, 32)


def _splat(builder: Any, value: Any) -> Any:
    vec = builder.insert_element(ir.Constant(_V32, ir.Undefined), value, ir.Constant(I32, 0))
    return builder.shuffle_vector(vec, ir.Constant(_V32, ir.Undefined), ir.Constant(ir.VectorType(I32, 32), [0] * 32))


@intrinsic  # type: ignore[untyped-decorator]  # numba: no annotations
def _page_group_mins(typingctx: Any, tables: Any, planes: Any, first_block: Any, n_blocks: Any, last_valid: Any,
                     q_first: Any, best: Any, zero: Any) -> Any:
    """``best[q_first + g]`` = min over the page's blocks ``first_block : first_block + n_blocks``
    (the last holding ``last_valid`` real tokens) of query token ``q_first + g``'s table sum,
    for ``g`` in ``0..GROUP_TOKENS - 1``. Emits LLVM IR directly: numba has no vector types."""
    sig = types.void(tables, planes, types.int64, types.int64, types.int64, types.int64, best, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        tab = builder.bitcast(context.make_array(signature.args[0])(context, builder, args[0]).data, _I8.as_pointer())
        code = builder.bitcast(context.make_array(signature.args[1])(context, builder, args[1]).data, _I8.as_pointer())
        best_data = context.make_array(signature.args[6])(context, builder, args[6]).data
        start, count, last_valid_, q0, zero_ = args[2], args[3], args[4], args[5], args[7]
        mod = builder.module
        v2 = ir.FunctionType(_V32, [_V32, _V32])
        pshufb = cgutils.get_or_insert_function(mod, v2, "llvm.x86.avx2.pshuf.b")
        add_sat = cgutils.get_or_insert_function(mod, v2, "llvm.uadd.sat.v32i8")
        umin = cgutils.get_or_insert_function(mod, v2, "llvm.umin.v32i8")
        reduce_min = cgutils.get_or_insert_function(mod, ir.FunctionType(_I8, [_V32]), "llvm.vector.reduce.umin.v32i8")
        mins = [cgutils.alloca_once_value(builder, ir.Constant(_V32, [255] * 32)) for _ in range(GROUP_TOKENS)]
        table_bytes = 2 * _CODE_BYTES * 32  # 32 nibble tables of 32 bytes (16 entries, both lanes)
        q_tab = [builder.gep(tab, [builder.mul(builder.add(q0, const(g)), const(table_bytes))]) for g in range(GROUP_TOKENS)]
        low_nibble, four = ir.Constant(_V32, [15] * 32), ir.Constant(_V32, [4] * 32)
        lanes = ir.Constant(_V32, list(range(32)))
        block_bytes = _CODE_BYTES * BLOCK_TOKENS

        def load(ptr: Any, offset: int) -> Any:
            return builder.load(builder.bitcast(builder.gep(ptr, [const(offset)]), _V32.as_pointer()), align=1)

        def step(b: Any, n_here: int) -> None:  # blocks b .. b + n_here - 1 of the page
            bases = [builder.gep(code, [builder.mul(builder.add(start, builder.add(b, const(t))), const(block_bytes))])
                     for t in range(n_here)]
            sums = [[ir.Constant(_V32, None)] * n_here for _ in range(GROUP_TOKENS)]
            # The tables' addresses vary with b as far as LLVM knows (zero_ is 0 at run time): else
            # it hoists all 128 table loads out of the loop into a 4 KiB copy on the stack per call.
            tabs = [builder.gep(q_tab[g], [builder.mul(b, zero_)]) for g in range(GROUP_TOKENS)]
            for k in range(_CODE_BYTES):
                rows = [load(base, 32 * k) for base in bases]
                lows = [builder.and_(r, low_nibble) for r in rows]
                highs = [builder.and_(builder.lshr(r, four), low_nibble) for r in rows]
                for g in range(GROUP_TOKENS):
                    t_low, t_high = load(tabs[g], 64 * k), load(tabs[g], 64 * k + 32)
                    for t in range(n_here):
                        s = builder.call(add_sat, [sums[g][t], builder.call(pshufb, [t_low, lows[t]])])
                        sums[g][t] = builder.call(add_sat, [s, builder.call(pshufb, [t_high, highs[t]])])
            for t in range(n_here):
                last = builder.icmp_unsigned("==", builder.add(b, const(t)), builder.sub(count, const(1)))
                valid = builder.trunc(builder.select(last, last_valid_, const(BLOCK_TOKENS)), _I8)
                pad = builder.sext(builder.icmp_unsigned(">=", lanes, _splat(builder, valid)), _V32)  # 0xFF past the page
                for g in range(GROUP_TOKENS):
                    builder.store(builder.call(umin, [builder.load(mins[g]), builder.or_(sums[g][t], pad)]), mins[g])

        in_steps(builder, count, _BLOCKS_PER_STEP, step)
        for g in range(GROUP_TOKENS):
            m = builder.zext(builder.call(reduce_min, [builder.load(mins[g])]), I64)
            builder.store(m, builder.gep(best_data, [builder.add(q0, const(g))]))
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(cache=True, nogil=True)
def nibble_maxsim_range(tables: Any, planes: Any, block_offsets: Any, offsets: Any, weight: Any, q_starts: Any,
                        out: Any, start: Any, stop: Any) -> None:
    """Fill ``out[:, start:stop]`` with the ``(queries, pages)`` Hamming-MaxSim of pages
    ``start:stop``: the integers of :func:`._hamming_kernel.hamming_maxsim_2words_range`.

    ``tables`` ``(tokens, 32, 32)`` uint8 from :func:`query_tables` (tokens a multiple of
    :data:`GROUP_TOKENS`; the padding tokens' minima are computed and never summed), query
    ``g``'s tokens ``q_starts[g]:q_starts[g + 1]``, ``weight`` each token's total weight;
    ``planes``/``block_offsets`` from :func:`build_planes` over the same pages as ``offsets``.
    One thread, without the GIL.
    """
    n_queries = q_starts.shape[0] - 1
    n_tok = tables.shape[0]
    best = np.empty(n_tok, np.int64)
    zero = block_offsets[0]  # always 0 (see _page_group_mins)
    for p in range(start, stop):
        b0 = block_offsets[p]
        n_blocks = block_offsets[p + 1] - b0
        last_valid = offsets[p + 1] - offsets[p] - (n_blocks - 1) * 32
        for q0 in range(0, n_tok, GROUP_TOKENS):
            _page_group_mins(tables, planes, b0, n_blocks, last_valid, q0, best, zero)
        for g in range(n_queries):
            acc = np.int64(0)
            for i in range(q_starts[g], q_starts[g + 1]):
                acc += weight[i] - 2 * best[i]
            out[g, p] = np.int32(acc)


@nb.njit(cache=True, nogil=True)
def _fill_planes(code_bytes: Any, offsets: Any, block_offsets: Any, planes: Any, start: Any, stop: Any) -> None:
    for p in range(start, stop):
        b0 = block_offsets[p]
        for j in range(offsets[p], offsets[p + 1]):
            t = j - offsets[p]
            blk, lane = b0 + t // 32, t % 32
            for k in range(16):
                planes[blk, k, lane] = code_bytes[j, k]


def build_planes(codes: np.ndarray, offsets: np.ndarray,
                 in_blocks: Callable[[Callable[[int, int], None], int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(planes, block_offsets)`` of ``(tokens, 2)`` uint64 codes: ``planes`` ``(blocks, 16,
    32)`` uint8, page ``p`` in blocks ``block_offsets[p]:block_offsets[p + 1]`` (its tokens
    padded to a multiple of 32 with zeros, which the kernel masks). ``in_blocks(run, pages)``
    may spread ``run(start, stop)`` over threads (the copy releases the GIL). Not a numba
    ``parallel`` loop: the workqueue threading layer aborts the process when two threads enter
    parallel regions at once, and searches run on several threads."""
    offsets = np.asarray(offsets, np.int64)  # unsigned offsets would wrap the negation below
    lengths = np.diff(offsets)
    block_offsets = np.zeros(offsets.shape[0], np.int64)
    np.cumsum(-(-lengths // BLOCK_TOKENS), out=block_offsets[1:])
    planes = np.zeros((int(block_offsets[-1]), _CODE_BYTES, BLOCK_TOKENS), np.uint8)
    code_bytes = np.ascontiguousarray(codes).view(np.uint8).reshape(-1, _CODE_BYTES)

    def run(start: int, stop: int) -> None:
        _fill_planes(code_bytes, offsets, block_offsets, planes, start, stop)

    (in_blocks or (lambda fn, n: fn(0, n)))(run, len(lengths))
    return planes, block_offsets


def query_tables(q_codes: np.ndarray, q_masks: np.ndarray) -> np.ndarray:
    """``(tokens, 32, 32)`` uint8 nibble tables of ``(tokens, 2)`` uint64 query codes and
    masks, the tokens padded to a multiple of :data:`GROUP_TOKENS` with copies of token 0:
    ``[i, n, v]`` (and ``[i, n, 16 + v]``, ``vpshufb`` looks up within each 128-bit half) is
    token ``i``'s weighted distance over nibble ``n`` to a page nibble ``v``. Nibble ``2k`` is
    the low half of code byte ``k``, ``2k + 1`` the high half."""
    def nibbles(words: np.ndarray) -> np.ndarray:
        b = np.ascontiguousarray(words).view(np.uint8).reshape(-1, _CODE_BYTES)
        return np.stack([b & 15, b >> 4], axis=2).reshape(-1, 2 * _CODE_BYTES)

    x = nibbles(q_codes)[:, :, None] ^ np.arange(16, dtype=np.uint8)
    table = np.bitwise_count(x) + np.bitwise_count(x & nibbles(q_masks)[:, :, None])
    take = np.concatenate([np.arange(len(table)), np.zeros(-len(table) % GROUP_TOKENS, np.int64)])
    return np.ascontiguousarray(np.concatenate([table, table], axis=2)[take], dtype=np.uint8)
