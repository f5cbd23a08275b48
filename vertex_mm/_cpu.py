"""CPU accounting: how much CPU this process and every other process used while we timed.

The machine is shared, so a speed is only trusted alongside the cores others kept busy. The
benchmarks and the page-search evaluation report both through :func:`timed`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Timing", "busy_seconds", "own_seconds", "timed"]


def busy_seconds() -> float:
    """Busy CPU time of the whole machine since boot (all CPUs), from /proc/stat; NaN where
    there is no /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU time of this process and its waited-for children (OCR workers, Beam helpers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Timing:
    """Wall time, this process's CPU time, and the CPU time other processes used meanwhile."""

    wall: float = 0.0
    own_cpu: float = 0.0
    other_cpu: float = 0.0

    @property
    def other_cores(self) -> float:
        """Average number of cores other processes kept busy."""
        return self.other_cpu / self.wall if self.wall else 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    """``with timed() as t: ...`` fills ``t`` when the block ends."""
    t = Timing()
    busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
    yield t
    t.wall = time.perf_counter() - wall0
    t.own_cpu = own_seconds() - own0
    t.other_cpu = max(0.0, (busy_seconds() - busy0) - t.own_cpu)
