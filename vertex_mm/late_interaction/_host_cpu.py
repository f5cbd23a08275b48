"""The host CPU's instruction-set flags as LLVM (and so numba) sees them: one read, shared by the
Hamming kernels' choices (vector width, vector popcount, AVX2)."""

from __future__ import annotations

import functools

__all__ = ["host_cpu_has"]


@functools.lru_cache(maxsize=1)
def _features() -> dict[str, bool] | None:
    try:
        import llvmlite.binding as llvm

        return dict(llvm.get_host_cpu_features())
    except Exception:  # no llvmlite, or one without the call
        return None


def host_cpu_has(feature: str) -> bool | None:
    """Whether the host CPU has ``feature`` (LLVM's name: ``"avx2"``, ``"avx512f"``,
    ``"avx512vpopcntdq"``); None when llvmlite cannot tell, so each caller picks its safe side."""
    features = _features()
    return None if features is None else bool(features.get(feature, False))
