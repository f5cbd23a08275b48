"""CPU accounting shared by the benchmarks: how much CPU other processes used while we timed.

The machine is shared, so a ratio is only trusted alongside the cores others kept busy. The
accounting itself is the library's (:mod:`vertex_mm._cpu`, which the page-search evaluation
uses too); this module is the benchmarks' name for it.
"""

from __future__ import annotations

from vertex_mm._cpu import Timing, busy_seconds, own_seconds, timed

__all__ = ["Timing", "busy_seconds", "own_seconds", "timed"]
