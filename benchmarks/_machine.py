"""What every benchmark shares: CPU accounting (how much CPU other processes used while we
timed; the machine is shared, so a ratio is only trusted alongside the cores others kept busy)
and a line describing the machine the figures come from.

The accounting itself is the library's (:mod:`vertex_mm._cpu`), which the page-search
evaluation uses too.
"""

from __future__ import annotations

import os
import platform

from vertex_mm._cpu import Timing, busy_seconds, own_seconds, timed

__all__ = ["Timing", "busy_seconds", "machine_line", "own_seconds", "timed"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags(wanted: tuple[str, ...] = ("avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8")) -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return ",".join(w for w in wanted if w in have) or "-"
    except OSError:
        pass
    return "?"


def machine_line() -> str:
    """``MACHINE cpu=... flags=... cores=... numpy=... blas=... torch=...``: where a figure comes from."""
    import numpy as np

    parts = [f"cpu={_cpu_model()!r}", f"flags={_cpu_flags()}", f"cores={os.cpu_count()}",
             f"python={platform.python_version()}", f"numpy={np.__version__}"]
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # type: ignore[call-arg,index]
        parts.append(f"blas={blas.get('name')}-{blas.get('version')}")
    except Exception:
        pass
    try:
        import torch

        parts.append(f"torch={torch.__version__} threads={torch.get_num_threads()}")
    except ImportError:
        parts.append("torch=none")
    return "MACHINE " + " ".join(parts)
