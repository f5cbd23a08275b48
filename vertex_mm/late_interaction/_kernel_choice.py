"""Which compiled Hamming kernel runs here: numba's popcount kernel, the AVX2 nibble-table
kernel for 128-bit codes, or none (numpy). One place decides, from the CPU and
``VERTEX_MM_HAMMING_KERNEL``; :mod:`.binary` runs what it says.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from ._host_cpu import host_cpu_has
from ._numba import numba_loads

__all__ = ["KERNEL_ENV", "hamming_kernel", "has_fast_kernel", "nibble_runs", "popcount_kernel"]

_POPCOUNT: Any = None
_POPCOUNT_TRIED = False


def popcount_kernel() -> Any:
    """numba's compiled popcount kernel for codes of any width (:func:`._hamming_kernel.min_hamming_range`),
    or None without numba (imported once)."""
    global _POPCOUNT, _POPCOUNT_TRIED
    if not _POPCOUNT_TRIED:
        _POPCOUNT_TRIED = True
        _POPCOUNT = None
        if numba_loads():
            from ._hamming_kernel import min_hamming_range

            _POPCOUNT = min_hamming_range
    return _POPCOUNT


def has_fast_kernel() -> bool:
    """True when numba is installed and the compiled Hamming kernel is used."""
    return popcount_kernel() is not None


#: Chooses the compiled kernel for 128-bit codes: ``auto`` (default), ``nibble`` or ``popcount``.
KERNEL_ENV = "VERTEX_MM_HAMMING_KERNEL"


def _nibble_usable() -> bool:  # not cached: numba's target settings may change (available())
    if not numba_loads():
        return False
    from ._nibble_kernel import available

    return available()


def _has_vector_popcount() -> bool:
    return bool(host_cpu_has("avx512vpopcntdq"))


def hamming_kernel() -> str:
    """The kernel :func:`.binary.hamming_maxsim` runs for 128-bit codes here: ``"nibble"`` (AVX2
    without a vector popcount: table lookups, 2-bit queries as cheap as 1-bit), ``"popcount"``
    (CPUs with VPOPCNTQ, and other CPUs numba compiles for) or ``"numpy"`` (no numba).
    ``VERTEX_MM_HAMMING_KERNEL=nibble|popcount`` overrides the choice where that kernel runs."""
    if popcount_kernel() is None:
        return "numpy"
    choice = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "nibble", "popcount"):
        raise InputError(f"{KERNEL_ENV} must be auto, nibble or popcount, got {choice!r}", input_name=KERNEL_ENV)
    if choice == "popcount" or not _nibble_usable():
        return "popcount"
    return "nibble" if choice == "nibble" or not _has_vector_popcount() else "popcount"


def nibble_runs(dim: int) -> bool:
    """Whether :func:`.binary.hamming_maxsim` takes the nibble kernel for ``dim``-dimensional codes
    here: it is this CPU's kernel (:func:`hamming_kernel`) and the codes are two words
    (65-128 dimensions; a 2-bit token then weighs at most 192, within the kernel's bytes)."""
    return -(-int(dim) // 64) == 2 and hamming_kernel() == "nibble"
