"""The int16 screen's layout, shared by its numpy side (:mod:`.int16_screen`) and its compiled
kernel (:mod:`._int16_kernel`, which needs numba): block and group sizes, the norm limit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK_TOKENS", "NORM_LIMIT", "QUERY_GROUP", "VALUES_STEP", "block_offsets_of"]

#: Page tokens per block: one 32-bit lane each in a 256-bit register.
BLOCK_TOKENS = 8
#: Query tokens per pass over a page (their sums stay in registers): queries are padded to a
#: multiple of this.
QUERY_GROUP = 4
#: Values per token are padded to a multiple of this (zeros add nothing): the kernel's loop
#: takes four pairs a step.
VALUES_STEP = 8
#: Largest Euclidean norm of a rounded token: two such tokens' dot product, and every partial
#: sum of it (Cauchy-Schwarz on the terms summed), stays below 2**31.
NORM_LIMIT = 46000


def block_offsets_of(lengths: np.ndarray) -> np.ndarray:
    """``(pages + 1,)`` int64: page ``p``'s blocks of :data:`BLOCK_TOKENS` are
    ``[out[p], out[p + 1])``."""
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(-(-np.asarray(lengths, np.int64) // BLOCK_TOKENS), out=out[1:])
    return out
