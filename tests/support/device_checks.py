"""Checking where tensors go without a GPU: :func:`one_device` fails any torch op that mixes
devices, so code run on torch's "meta" device (shapes only, no kernels) proves that every
input was moved to the model's device, as CUDA would demand."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["one_device"]

# Ops that move tensors between devices, or read attributes: they may see two devices.
_MOVES = frozenset({"to", "cpu", "cuda", "__get__", "copy_"})


class one_device(torch.overrides.TorchFunctionMode):  # noqa: N801  (used as a context manager)
    """Fails any torch op whose tensor operands (beyond 0-d scalars) sit on different devices.

    torch's "meta" device, unlike CUDA, lets some ops (a matmul) mix it with the CPU; inside
    this mode they fail as they would on a GPU."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor) and a.dim() > 0]
        if len({t.device.type for t in tensors}) > 1 and getattr(func, "__name__", "") not in _MOVES:
            raise AssertionError(f"{getattr(func, '__name__', func)} mixes devices {sorted({t.device.type for t in tensors})}")
        return func(*args, **kwargs)


class CpuOnlyModel:
    """A real (numpy) LocalModel whose factory takes no ``device``: what a user's own registered
    factory may look like."""

    name = "cpu-only"
    native_dim = 8
    modalities = frozenset({"text"})

    def encode_texts(self, texts: Any) -> Any:
        import numpy as np

        rows = np.array([[len(t) + i for i in range(self.native_dim)] for t in texts], np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def encode_images(self, images: Any) -> Any:
        from vertex_mm.errors import InputError

        raise InputError("cpu-only embeds texts only", input_name="image")


def cpu_only_model() -> CpuOnlyModel:
    """Registry factory of :class:`CpuOnlyModel` (no device argument)."""
    return CpuOnlyModel()
