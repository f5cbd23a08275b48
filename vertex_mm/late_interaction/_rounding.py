"""float32 rounding-error constants shared by the screens' certified bounds (:mod:`.screened`,
:mod:`.int16_screen`)."""

from __future__ import annotations

__all__ = ["U_FP32", "gamma"]

#: float32's unit roundoff.
U_FP32 = 2.0**-24


def gamma(n: int) -> float:
    """``n u / (1 - n u)``: the relative error bound of a float32 sum or dot product of ``n``
    terms, in any order (Higham's gamma_n)."""
    return n * U_FP32 / (1.0 - n * U_FP32)
