"""The diagnostics the README names are importable from the package, as it writes them."""

from __future__ import annotations

import vertex_mm.late_interaction as li
from vertex_mm.late_interaction import binary, screened


def test_screen_kind_and_hamming_kernel_are_exported_from_the_package():
    from vertex_mm.late_interaction import hamming_kernel, screen_kind

    assert screen_kind is screened.screen_kind and hamming_kernel is binary.hamming_kernel
    assert {"screen_kind", "hamming_kernel"} <= set(li.__all__)
    assert screen_kind() in (None, "bfloat16", "int16")
    assert hamming_kernel() in ("nibble", "popcount", "numpy")
