"""The checks that say whether a client kept to the emulator's quota during a benchmark run.
(Quota refusals and injected faults are counted apart by the emulator itself:
``stats()["quota_429"]`` and ``stats()["injected"]``.)

A quota only binds on a job that outlasts its window: the emulator admits at most
``round(quota_rpm * window / 60)`` requests per sliding ``window`` seconds, so the benchmarks
shorten the window (``--quota-window``) rather than run for minutes, and :func:`quota_binds`
says whether the run was long enough for the quota to refuse anything.

Quota refusals are reported, not judged: a client backs off on them, and after each back-off its
token bucket (one second's quota) is full again, so at a short window even a client paced at the
quota meets a full window now and then (30 refusals at a 3 s window for 120 images, measured),
which the service's 60 s window would hardly show. What is judged is the pace: no more than the
quota plus one second's burst over the run.
"""

from __future__ import annotations

__all__ = ["quota_binds", "quota_problems", "upper_fraction"]


def quota_binds(requests: int, quota_rpm: float, window: float) -> bool:
    """Whether ``requests`` admitted requests exceed what the quota admits in one window, so that
    a client sending them without pacing would be refused: only then does a run test the quota."""
    return requests > max(1, round(quota_rpm * window / 60.0))


def quota_problems(fraction: float, wall_s: float, max_fraction: float) -> list[str]:
    """Why a client ran faster than the quota allows (empty: it did not). A client paced at the
    quota whose token bucket starts with one second's worth can reach ``1 + 1 s / wall_s`` of it;
    ``max_fraction`` is the slack above that."""
    upper = upper_fraction(wall_s, max_fraction)
    return [f"ran at {fraction:.3f} of the quota (> {upper:.3f})"] if fraction > upper else []


def upper_fraction(wall_s: float, max_fraction: float) -> float:
    """The most of the quota a run of ``wall_s`` seconds may reach (see :func:`quota_problems`)."""
    return max_fraction + 1.0 / max(wall_s, 1e-9)
