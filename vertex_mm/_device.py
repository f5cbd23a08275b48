"""``device=``: one place that turns the user's word for a device into torch's.

>>> check_device("CUDA")          # validation only; no torch import
'cuda'
>>> resolve_device("auto")        # doctest: +SKIP
device(type='cpu')                # or cuda when torch sees a GPU

* ``"auto"`` picks CUDA when ``torch.cuda.is_available()``, else the CPU.
* ``"cuda"`` (or ``"cuda:N"``) on a machine without CUDA falls back to the CPU and says so with a
  :class:`DeviceFallbackWarning`: a script written on a GPU box still runs on a laptop, and the
  user learns why it is slow. Filter the warning to turn it into an error
  (``warnings.simplefilter("error", DeviceFallbackWarning)``).
* ``"cpu"`` is the CPU.

Used by the local models (:mod:`local_backend.device` re-exports it, with the dtypes) and by the
MaxSim scorer (:mod:`vertex_mm.late_interaction.maxsim`). It lives in ``vertex_mm`` because the
scorer must not import ``local_backend``. torch is imported only by :func:`resolve_device`
and :func:`ieee_float32`.

float32 on a GPU is not float32 by default: cuDNN convolutions use TF32 (10-bit mantissa) unless
told otherwise, and ``torch.set_float32_matmul_precision("high")`` does the same to matmuls. The
local models run their float32 forwards under :func:`ieee_float32`, so a float32 vector from a GPU
agrees with the CPU's to float rounding and may share its embedding space id; bfloat16 vectors
carry their own space tag instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from .errors import DeviceFallbackWarning, InputError

__all__ = ["DEVICES", "NATIVE_BF16_ENV", "NATIVE_FP16_ENV", "DeviceFallbackWarning", "check_device", "cpu_has_amx_bf16",
           "cpu_has_native_bf16", "cpu_has_native_fp16", "cpu_is_x86", "ieee_float32", "outside_stacklevel", "resolve_device"]

DEVICES = ("auto", "cpu", "cuda")

# CPU flags of native bfloat16 matrix arithmetic (Intel/AMD AVX512-BF16, Intel AMX), and of
# float16 (AVX512-FP16 and AMX-FP16: Intel Sapphire Rapids and later; no AMD CPU so far).
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_FP16_CPU_FLAGS = frozenset({"avx512_fp16", "amx_fp16"})
# torch's x86 probes of the same, for machines without /proc/cpuinfo (tell AVX512-BF16 and AMX
# apart from plain AVX-512 too)
_BF16_TORCH_PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
_FP16_TORCH_PROBES = ("_is_amx_fp16_supported",)  # torch has no AVX512-FP16 probe


#: Set to 1 or 0 to override what :func:`cpu_has_native_bf16` reads from the CPU flags (the
#: tests force the bfloat16 paths on with it; a user can turn them off).
NATIVE_BF16_ENV = "VERTEX_MM_NATIVE_BF16"
#: The same for :func:`cpu_has_native_fp16`.
NATIVE_FP16_ENV = "VERTEX_MM_NATIVE_FP16"


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); ``False`` when unknown.

    Everything that picks bfloat16 for speed asks this first: elsewhere torch emulates it, and a
    bfloat16 matmul ran at 3 GFLOP/s against float32's 145 on a 2-core AMD EPYC with AVX2 only
    (``benchmarks/bench_maxsim.py``). torch's own check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``)
    also says yes for plain AVX-512, where bfloat16 is emulated; the CPU flags tell the two
    apart. :data:`NATIVE_BF16_ENV` (``1``/``0``) overrides the flags.
    """
    return _native(NATIVE_BF16_ENV, _BF16_CPU_FLAGS, _BF16_TORCH_PROBES, cpuinfo)


def cpu_has_amx_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU has AMX tiles for bfloat16 (Intel Sapphire Rapids and later), where
    torch's bfloat16 products run several times AVX512-BF16's rate; ``False`` when unknown.
    ``VERTEX_MM_NATIVE_BF16=0`` says no here too."""
    if os.environ.get(NATIVE_BF16_ENV, "").strip() == "0":
        return False
    return _native("", frozenset({"amx_bf16"}), ("_is_amx_tile_supported",), cpuinfo)


def cpu_has_native_fp16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether an x86 CPU multiplies float16 natively (AVX512-FP16 or AMX-FP16); ``False`` when
    unknown. Elsewhere on x86 torch emulates it: a float16 matmul ran at 0.6 GFLOP/s against
    float32's 39 (one thread, 512x512, AVX2 AMD EPYC), a float16 ``Linear`` 8x slower. ARM CPUs
    have float16 arithmetic of their own and are not judged here (:func:`cpu_is_x86`).
    :data:`NATIVE_FP16_ENV` (``1``/``0``) overrides the flags."""
    return _native(NATIVE_FP16_ENV, _FP16_CPU_FLAGS, _FP16_TORCH_PROBES, cpuinfo)


def cpu_is_x86() -> bool:
    """Whether this is an x86 CPU, the one kind whose 16-bit arithmetic the checks above read."""
    return platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")


def _native(env: str, flags: frozenset[str], probes: tuple[str, ...], cpuinfo: str) -> bool:
    forced = os.environ.get(env, "").strip() if env else ""
    if forced in ("0", "1"):
        return forced == "1"
    found = _cpu_flags(cpuinfo)
    if found is None:
        # No /proc/cpuinfo (Windows, macOS): torch's x86 probes, when torch is already loaded.
        cpu = getattr(sys.modules.get("torch"), "cpu", None)
        return any(bool(getattr(cpu, name, lambda: False)()) for name in probes)
    return bool(flags & found)


@functools.lru_cache(maxsize=8)
def _cpu_flags(cpuinfo: str) -> frozenset[str] | None:
    """The first ``flags`` line of ``cpuinfo``; None when the file cannot be read."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        return None
    return frozenset()


def outside_stacklevel() -> int:
    """The ``stacklevel`` of a warning raised by the caller of this function that points at the
    first frame outside vertex_mm and local_backend (the user's line, however deep the library
    calls went; dataclass-made ``__init__`` frames are skipped too)."""
    here = os.path.dirname(os.path.abspath(__file__))
    roots = (here + os.sep, os.path.join(os.path.dirname(here), "local_backend") + os.sep)
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and (frame.f_code.co_filename.startswith(roots)
                                        or frame.f_code.co_filename.startswith("<")):
        frame, level = frame.f_back, level + 1
    return level


def check_device(device: Any) -> str:
    """The canonical name (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``) of ``device``: a
    string or a ``torch.device``. Raises :class:`~vertex_mm.errors.InputError` naming the value
    and the allowed ones for anything else. Needs no torch."""
    name = str(device).strip().lower() if isinstance(device, str) or type(device).__name__ == "device" else None
    if name is None or (name not in DEVICES and not (name.startswith("cuda:") and name[5:].isdigit())):
        raise InputError(f"device must be one of {DEVICES} or 'cuda:N', got {device!r}", input_name="device")
    return name


def resolve_device(device: Any = "auto", *, stacklevel: int = 2) -> Any:
    """A ``torch.device`` for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (or a
    ``torch.device``); see the module docstring. Raises :class:`~vertex_mm.errors.InputError`
    for any other value. ``stacklevel`` is the fallback warning's, as for ``warnings.warn`` here (2: the caller)."""
    name = check_device(device)
    from ._optional import require

    torch = require("local", "torch", what="local models and the MaxSim scorer")
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda" if name == "auto" else name)
    if name != "auto":
        message = (f"device={str(device)!r} was requested but torch sees no CUDA GPU "
                   f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); running on the CPU")
        warnings.warn(message, DeviceFallbackWarning, stacklevel=stacklevel)
    return torch.device("cpu")


_IEEE_LOCK = threading.Lock()
_ieee_depth = 0
_ieee_saved: list[Any] = []


@contextlib.contextmanager
def ieee_float32(device: Any) -> Iterator[None]:
    """Full IEEE float32 arithmetic for CUDA matmuls and cuDNN convolutions and RNNs inside the
    block (no TF32), whatever the process-wide settings; they are restored when the last block
    open in the process exits (the settings are process-wide, so concurrent forwards share one
    save). Nothing changes for a CPU ``device`` (the CPU has no TF32)."""
    global _ieee_depth, _ieee_saved
    if str(getattr(device, "type", device)).split(":")[0] != "cuda":
        yield
        return
    import torch

    # torch >= 2.9's per-backend precision API; the legacy allow_tf32 flags must not be mixed with it.
    cudnn: Any = torch.backends.cudnn  # torch's stubs lack cudnn.conv / cudnn.rnn
    knobs: list[Any] = [torch.backends.cuda.matmul, cudnn.conv, cudnn.rnn]
    with _IEEE_LOCK:
        if _ieee_depth == 0:
            _ieee_saved = [k.fp32_precision for k in knobs]
            for k in knobs:
                k.fp32_precision = "ieee"
        _ieee_depth += 1
    try:
        yield
    finally:
        with _IEEE_LOCK:
            _ieee_depth -= 1
            if _ieee_depth == 0:
                for k, value in zip(knobs, _ieee_saved):
                    k.fp32_precision = value
