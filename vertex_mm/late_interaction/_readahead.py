"""Read-ahead for the rows a rerank is about to gather from a memory-mapped token file.

A rerank reads a few dozen pages scattered over a file of many gigabytes. Through the memory
map, each 4 kB the copy touches that is not yet in the page cache is one page fault and one
synchronous disk read, in turn: 64 pages of 343 float16 tokens (5.6 MB) took 68-179 ms (medians
of several runs) from a cold cache. Telling the kernel first which byte ranges will be read
(``MADV_WILLNEED``) starts all those reads at once, and the same gather took 7-12 ms;
``MADV_POPULATE_READ``, which reads them synchronously, took 98-101 ms. From a warm cache the
hint costs one system call per run of pages (~0.1 ms for 64). Measured on 10 files of 10,000
pages (the index of ``benchmarks/bench_pages_scale.py``), caches dropped first, 2-core AMD EPYC
with a virtual disk whose read-ahead window is 8 MiB; hints are given in pieces of at most
:data:`ADVICE_BYTES`, which any window covers.

Only a hint: where it cannot be given (not a memory map, not Linux or macOS, an old kernel), the
rows are read as before.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

__all__ = ["ADVICE_BYTES", "advise_rows", "advised_ranges"]


#: Bytes per hint: the kernel reads at most its read-ahead window (128 KiB by default; the disk's
#: own I/O size when larger) per ``MADV_WILLNEED`` call, so longer runs are advised in pieces.
ADVICE_BYTES = 128 * 1024


def advised_ranges(origin: int, row_bytes: int, starts: np.ndarray, stops: np.ndarray,
                   page_size: int = mmap.PAGESIZE, max_bytes: int = ADVICE_BYTES) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` within the mapping for rows ``starts[i]:stops[i]`` of an array whose
    row 0 lies ``origin`` bytes into it: runs that touch or overlap are merged, each offset is
    rounded down to a page boundary (as ``madvise`` requires), empty runs are skipped, and a run
    longer than ``max_bytes`` (a multiple of ``page_size``) is given in pieces of that size."""
    for lo, length in _merged(origin, row_bytes, starts, stops, page_size):
        for at in range(lo, lo + length, max_bytes):
            yield at, min(max_bytes, lo + length - at)


def _merged(origin: int, row_bytes: int, starts: np.ndarray, stops: np.ndarray,
            page_size: int) -> Iterator[tuple[int, int]]:
    order = np.argsort(starts, kind="stable")
    lo_run = hi_run = -1
    for i in order:
        a, b = int(starts[i]), int(stops[i])
        if b <= a:
            continue
        lo, hi = origin + a * row_bytes, origin + b * row_bytes
        lo -= lo % page_size
        if lo_run >= 0 and lo <= hi_run:
            hi_run = max(hi_run, hi)
            continue
        if lo_run >= 0:
            yield lo_run, hi_run - lo_run
        lo_run, hi_run = lo, hi
    if lo_run >= 0:
        yield lo_run, hi_run - lo_run


def advise_rows(tokens: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> None:
    """Ask the kernel to start reading rows ``starts[i]:stops[i]`` of ``tokens`` when it is a
    memory map (a ``numpy.memmap`` or a view of one); nothing otherwise."""
    raw = getattr(tokens, "_mmap", None)
    advice = getattr(mmap, "MADV_WILLNEED", None)
    if not isinstance(raw, mmap.mmap) or advice is None or tokens.ndim != 2 or not tokens.flags.c_contiguous:
        return
    try:
        base = np.frombuffer(raw, np.uint8).ctypes.data  # the mapping's first byte
    except (TypeError, ValueError, BufferError):  # a closed map
        return
    origin = int(tokens.ctypes.data) - int(base)
    if origin < 0:
        return
    for offset, length in advised_ranges(origin, int(tokens.strides[0]), np.asarray(starts), np.asarray(stops),
                                         max_bytes=max(ADVICE_BYTES - ADVICE_BYTES % mmap.PAGESIZE, mmap.PAGESIZE)):
        try:
            raw.madvise(advice, offset, length)
        except (OSError, ValueError):  # refused: the rows are read without the hint
            return
