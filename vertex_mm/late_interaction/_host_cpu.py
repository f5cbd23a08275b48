"""The host CPU's instruction-set flags as LLVM (and so numba) sees them: one read, shared by the
compiled kernels' choices (vector width, vector popcount, AVX2), and whether numba compiles
for AVX2 here (the kernels that emit AVX2 intrinsics)."""

from __future__ import annotations

import functools
import os
import platform
from typing import Any

__all__ = ["host_cpu_has", "numba_targets_avx2"]


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


def numba_targets_avx2() -> bool:
    """Whether numba compiles for an x86-64 CPU with AVX2 here, so a kernel that emits AVX2
    intrinsics may be compiled: numba's target is the host unless ``NUMBA_CPU_NAME`` /
    ``NUMBA_CPU_FEATURES`` (in the environment now, or as numba read them, with its
    ``.numba_config.yaml``) say otherwise, and a generic target has no 256-bit integer ops (LLVM
    stops the process on them). Checked at each call (cheap): a setting changed later must not
    reach a compile. False under ``NUMBA_DISABLE_JIT`` (an intrinsic cannot run as Python)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    import numba as nb

    config: Any = nb.config
    if config.DISABLE_JIT:
        return False
    for name in (os.environ.get("NUMBA_CPU_NAME"), config.CPU_NAME):
        if name not in (None, "", "host"):
            return False
    for features in (os.environ.get("NUMBA_CPU_FEATURES"), config.CPU_FEATURES):
        if features and "+avx2" not in features.split(","):
            return False
    return bool(host_cpu_has("avx2"))  # unknown: do not risk an LLVM abort
