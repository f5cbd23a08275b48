"""CPU accounting shared by the benchmarks: how much CPU other processes used while we timed.

The machine is shared, so a ratio is only trusted alongside the cores others kept busy.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Timing", "busy_seconds", "own_seconds", "timed"]


def busy_seconds() -> float:
    """Busy CPU time of the whole machine since boot (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU time of this process and its waited-for children (Beam's DirectRunner may start helpers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Timing:
    wall: float = 0.0
    own_cpu: float = 0.0
    other_cpu: float = 0.0

    @property
    def other_cores(self) -> float:
        """Average number of cores other processes kept busy."""
        return self.other_cpu / self.wall if self.wall else 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    t = Timing()
    busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
    yield t
    t.wall = time.perf_counter() - wall0
    t.own_cpu = own_seconds() - own0
    t.other_cpu = max(0.0, (busy_seconds() - busy0) - t.own_cpu)
