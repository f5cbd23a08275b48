"""``device=`` and ``dtype=`` for local models: one place that turns the user's words into torch's.

>>> resolve_device("auto")        # doctest: +SKIP
device(type='cpu')                # or cuda when torch sees a GPU

* ``"auto"`` picks CUDA when ``torch.cuda.is_available()``, else the CPU.
* ``"cuda"`` (or ``"cuda:N"``) on a machine without CUDA falls back to the CPU and says so with a
  :class:`DeviceFallbackWarning`: a script written on a GPU box still runs on a laptop, and the
  user learns why it is slow. Filter the warning to turn it into an error
  (``warnings.simplefilter("error", DeviceFallbackWarning)``).
* ``"cpu"`` is the CPU.

Dtypes are named as strings (``"float32"``, ``"bfloat16"``, ``"float16"``) so that configs stay
JSON; ``"auto"`` is bfloat16 on a GPU that supports it and float32 on the CPU (see
:func:`resolve_dtype` for why).
"""

from __future__ import annotations

import warnings
from typing import Any

from vertex_mm.errors import InputError

__all__ = ["DEVICES", "DTYPES", "DeviceFallbackWarning", "resolve_device", "resolve_dtype"]

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class DeviceFallbackWarning(UserWarning):
    """Raised as a warning when a GPU was asked for but torch sees none, and the CPU is used."""


def _torch() -> Any:
    from vertex_mm._optional import require

    return require("local", "torch", what="local models")


def resolve_device(device: str = "auto") -> Any:
    """A ``torch.device`` for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises :class:`~vertex_mm.errors.InputError` for any other string.
    """
    torch = _torch()
    name = str(device).strip().lower()
    if name not in DEVICES and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise InputError(f"device must be one of {DEVICES} or 'cuda:N', got {device!r}", input_name="device")
    if name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda" if name == "auto" else name)
    if name != "auto":
        message = (f"device={device!r} was requested but torch sees no CUDA GPU "
                   f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); running on the CPU")
        warnings.warn(message, DeviceFallbackWarning, stacklevel=2)
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: Any) -> Any:
    """A ``torch.dtype`` for a dtype name on ``device``.

    ``"auto"``: bfloat16 on a CUDA device that supports it (half the memory, tensor cores),
    float32 otherwise. On the CPU float32 stays the default because bfloat16 only pays on CPUs
    with bf16 matrix units (AMX, AVX512-BF16) and changes every vector by about 1e-3; ask for
    ``"bfloat16"`` explicitly to trade that for speed (``benchmarks/bench_colpali_embed.py``
    measures it). Raises :class:`~vertex_mm.errors.InputError` for an unknown name.
    """
    torch = _torch()
    name = str(dtype).strip().lower()
    if name not in DTYPES:
        raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}", input_name="dtype")
    if name == "auto":
        on_gpu = getattr(device, "type", str(device)) == "cuda"
        return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)
