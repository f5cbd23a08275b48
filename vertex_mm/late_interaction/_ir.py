"""What the kernels that emit LLVM IR through numba's ``@intrinsic`` share (:mod:`._nibble_kernel`,
:mod:`._int16_kernel`): numba's helpers without annotations, integer types, constants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llvmlite import ir
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic as _intrinsic

__all__ = ["I32", "I64", "cgutils", "const", "in_steps", "intrinsic"]

cgutils: Any = _cgutils  # numba's helpers carry no annotations
intrinsic: Any = _intrinsic

I32, I64 = ir.IntType(32), ir.IntType(64)


def const(n: int) -> Any:
    """An i64 constant (addresses, counts)."""
    return ir.Constant(I64, n)


def in_steps(builder: Any, count: Any, per_step: int, step: Callable[[Any, int], None]) -> None:
    """Emit ``step(first, n)`` over ``count`` items (blocks of a page): loops of ``per_step`` at a
    time, then the rest one at a time."""
    steps = builder.udiv(count, const(per_step))
    with cgutils.for_range(builder, steps) as loop:
        step(builder.mul(loop.index, const(per_step)), per_step)
    done = builder.mul(steps, const(per_step))
    with cgutils.for_range(builder, builder.sub(count, done)) as loop:
        step(builder.add(done, loop.index), 1)
