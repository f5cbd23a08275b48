"""``--mode auto``: the online path or a batch prediction job, by how long online would take.

The rule: a **batch job when the online path would take more than an hour** at the configured
rate (more than ``requests_per_minute × 60`` inputs), the backend is gemini and a ``gs://``
staging prefix is given; the online path otherwise.

Why an hour: a job halves the price and uses no online quota, but it has fixed costs the
online path has not: the input is staged to Cloud Storage (every local file uploaded as base64),
the job queues before it runs (Google targets a turnaround under 24 hours and allows up to 72
hours in the queue), and nothing arrives until it ends. For work the online path finishes in
minutes those costs dominate; once it needs hours of a client holding the quota, the job's
half price and hands-off run win. An hour at the documented floor of 120 requests per minute
is 7,200 inputs.
"""

from __future__ import annotations

import os
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from .sources import iter_source

__all__ = ["AUTO_JOB_ABOVE_SECONDS", "ModeChoice", "choose_mode", "count_inputs"]

AUTO_JOB_ABOVE_SECONDS = 3600.0


@dataclass(frozen=True)
class ModeChoice:
    mode: str  # "online" or "job"
    reason: str


def choose_mode(*, inputs: int, requests_per_minute: float | None, backend: str, staging: str | None) -> ModeChoice:
    """The mode ``--mode auto`` runs, and why (one line for the user)."""
    if backend != "gemini":
        return ModeChoice("online", f"batch prediction jobs need the gemini backend, not {backend}")
    if not staging:
        return ModeChoice("online", "a batch job needs --staging gs://bucket/prefix")
    if not requests_per_minute:
        return ModeChoice("online", "no rate limit is set, so the online path is not slowed by one")
    seconds = inputs / requests_per_minute * 60.0
    hours = seconds / 3600.0
    if seconds > AUTO_JOB_ABOVE_SECONDS:
        return ModeChoice("job", f"{inputs:,}+ inputs at {requests_per_minute:g} requests/minute would take about "
                                 f"{hours:.1f} h online (more than {AUTO_JOB_ABOVE_SECONDS / 3600:g} h)")
    return ModeChoice("online", f"{inputs:,} inputs at {requests_per_minute:g} requests/minute take about "
                                f"{seconds / 60:.0f} min online (at most {AUTO_JOB_ABOVE_SECONDS / 3600:g} h)")


def count_inputs(source: str | os.PathLike[str], *, extensions: frozenset[str], storage_client: Any = None,
                 limit: int | None = None, done: Container[str] = ()) -> int:
    """How many inputs ``source`` has that are not in ``done`` (ids a journal holds),
    counting no further than ``limit`` (a bucket of millions is not listed to the end to learn
    that it is large)."""
    n = 0
    for item in iter_source(source, storage_client=storage_client, extensions=extensions):
        if item.id in done:
            continue
        n += 1
        if limit is not None and n >= limit:
            break
    return n
