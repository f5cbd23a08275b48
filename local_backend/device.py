"""``device=`` and ``dtype=`` for local models: one place that turns the user's words into torch's.

The device half (and :func:`cpu_has_native_bf16`) lives in :mod:`vertex_mm._device` (the MaxSim scorer needs it too, and
``vertex_mm`` never imports ``local_backend``); it is re-exported here with the dtypes.

>>> resolve_device("auto")        # doctest: +SKIP
device(type='cpu')                # or cuda when torch sees a GPU

Dtypes are named as strings (``"float32"``, ``"bfloat16"``, ``"float16"``) so that configs stay
JSON; ``"auto"`` is bfloat16 where the hardware computes it natively and float32 elsewhere (see
:func:`resolve_dtype`).
"""

from __future__ import annotations

import warnings
from typing import Any

from vertex_mm._device import (
    DEVICES,
    DeviceFallbackWarning,
    check_device,
    cpu_has_native_bf16,
    cpu_has_native_fp16,
    cpu_is_x86,
    ieee_float32,
    outside_stacklevel,
    resolve_device,
)
from vertex_mm.errors import EmulatedBfloat16Warning, EmulatedFloat16Warning, InputError

__all__ = ["DEVICES", "DTYPES", "DeviceFallbackWarning", "check_device", "cpu_has_native_bf16", "cpu_has_native_fp16",
           "ieee_float32", "resolve_device", "resolve_dtype"]

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _torch() -> Any:
    from vertex_mm._optional import require

    return require("local", "torch", what="local models")


def resolve_dtype(dtype: str, device: Any) -> Any:
    """A ``torch.dtype`` for a dtype name on ``device``.

    ``"auto"`` is bfloat16 on a CUDA device that supports it and on a CPU with native bfloat16
    (:func:`cpu_has_native_bf16`), float32 elsewhere. Measured on a 2-core AMD EPYC with
    AVX512-BF16 (``benchmarks/bench_colpali_embed.py``, real-size ColPali-family models), bfloat16
    embedded pages 1.2-2.2x faster than float32; vectors moved by about 1e-2 (each vector has unit
    norm). The released ColPali checkpoints are stored in bfloat16. Ask for ``"float32"`` for
    exact reference numerics. Raises :class:`~vertex_mm.errors.InputError` for an unknown name;
    warns :class:`~vertex_mm.errors.EmulatedBfloat16Warning` for ``"bfloat16"`` and
    :class:`~vertex_mm.errors.EmulatedFloat16Warning` for ``"float16"`` on a CPU that only
    emulates it (the vectors are the same; only the speed suffers).
    """
    torch = _torch()
    name = str(dtype).strip().lower()
    if name not in DTYPES:
        raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}", input_name="dtype")
    kind = getattr(device, "type", str(device))
    if name == "bfloat16" and kind == "cpu" and not cpu_has_native_bf16():
        warnings.warn("dtype='bfloat16' on a CPU without native bfloat16 (no AVX512-BF16 or AMX): torch emulates it, "
                      "about 10x slower than float32 here (EfficientNet-Lite0 7.1 against 76.5 images/s on an AVX2 "
                      "CPU); dtype='auto' picks float32 on this CPU", EmulatedBfloat16Warning,
                      stacklevel=outside_stacklevel())
    if name == "float16" and kind == "cpu" and cpu_is_x86() and not cpu_has_native_fp16():
        warnings.warn("dtype='float16' on a CPU without native float16 (no AVX512-FP16 or AMX-FP16): torch emulates it, "
                      "a float16 matmul ran ~60x slower than float32 on an AVX2 CPU; use dtype='auto' (float32 or "
                      "bfloat16, whichever this CPU runs natively)", EmulatedFloat16Warning, stacklevel=outside_stacklevel())
    if name != "auto":
        return getattr(torch, name)
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
