"""Fault injection and counters, with no HTTP in sight (the middleware applies the decisions).

:class:`FaultInjector` decides, per prediction request, whether to drop the connection, answer
429 (quota used up, or a random one) or 503, or let it through. Random draws come from one
seeded ``random.Random`` under a lock, one draw per request, so a seed fixes the sequence of
outcomes whatever the concurrency. :class:`Stats` counts what was answered.
"""

from __future__ import annotations

import collections
import enum
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .settings import FaultSettings

__all__ = ["Decision", "FaultInjector", "Outcome", "Stats"]


class Outcome(enum.Enum):
    PASS = "pass"
    DROP = "drop"
    QUOTA = "quota"
    RANDOM_429 = "random_429"
    RANDOM_503 = "random_503"


@dataclass(frozen=True)
class Decision:
    """What to do with one request; ``retry_after`` is in seconds for 429/503."""

    outcome: Outcome
    retry_after: float = 0.0


class FaultInjector:
    """Thread-safe fault decisions under changeable :class:`FaultSettings`.

    ``clock`` is injectable (seconds, monotonic) so the quota window is testable without sleeping.
    """

    def __init__(self, settings: FaultSettings | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        # One quota window per base model, as the service counts "requests per base model".
        self._admitted: collections.defaultdict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.configure(settings or FaultSettings())

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        """Apply new settings. The quota window restarts, and a new seed restarts the sequence."""
        with self._lock:
            self._settings = settings
            self._rng = random.Random(settings.seed)
            self._admitted.clear()

    def decide(self, base_model: str = "") -> Decision:
        """One request's fate. Counts quota only for requests that get through, in the window
        of ``base_model`` (calls to gemini-embedding-2 did not use up multimodalembedding's)."""
        with self._lock:
            s = self._settings
            u = self._rng.random()
            if u < s.drop_rate:
                return Decision(Outcome.DROP)
            admitted = self._admitted[base_model]
            wait = self._quota_wait(s, admitted)
            if wait is not None:
                return Decision(Outcome.QUOTA, wait)
            u -= s.drop_rate
            if u < s.fault_rate_503:
                return Decision(Outcome.RANDOM_503, s.retry_after)
            u -= s.fault_rate_503
            if u < s.fault_rate_429:
                return Decision(Outcome.RANDOM_429, s.retry_after)
            if s.quota_rpm is not None:
                admitted.append(self._clock())
            return Decision(Outcome.PASS)

    def _quota_wait(self, s: FaultSettings, admitted: collections.deque[float]) -> float | None:
        """Seconds until the quota frees a slot, or None if a slot is free now."""
        limit = s.quota_per_window
        if limit is None:
            return None
        now = self._clock()
        while admitted and admitted[0] <= now - s.quota_window:
            admitted.popleft()
        if len(admitted) < limit:
            return None
        return max(0.0, admitted[0] + s.quota_window - now)


class Stats:
    """Counters of prediction requests, safe to read while the emulator runs.

    Keys of :meth:`snapshot`: ``requests`` (arrived), ``2xx``, ``4xx`` (429 included),
    ``429``, ``5xx``, ``503``, ``dropped``, ``in_flight`` and ``max_in_flight``; and why the
    emulator itself refused: ``quota_429`` (the quota was used up) and ``injected`` (a random
    429, 503 or drop), so that a client overrunning the quota and one meeting injected faults
    tell apart. Answers are counted before they are sent; ``in_flight`` drops just after.
    """

    KEYS = ("requests", "2xx", "4xx", "429", "5xx", "503", "dropped", "in_flight", "max_in_flight",
            "quota_429", "injected")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.KEYS, 0)

    def started(self) -> None:
        with self._lock:
            c = self._counts
            c["requests"] += 1
            c["in_flight"] += 1
            c["max_in_flight"] = max(c["max_in_flight"], c["in_flight"])

    def answered(self, status: int | None) -> None:
        """Count one answer; ``status`` None means the connection was dropped unanswered.

        Called *before* the answer leaves, so a client that has its answer sees it counted.
        """
        with self._lock:
            c = self._counts
            if status is None:
                c["dropped"] += 1
                return
            if 200 <= status < 300:
                c["2xx"] += 1
            elif 400 <= status < 500:
                c["4xx"] += 1
            elif status >= 500:
                c["5xx"] += 1
            if status in (429, 503):
                c[str(status)] += 1

    def refused(self, outcome: Outcome) -> None:
        """Count a request the fault injector answered instead of the model."""
        if outcome is Outcome.PASS:
            return
        with self._lock:
            self._counts["quota_429" if outcome is Outcome.QUOTA else "injected"] += 1

    def finished(self) -> None:
        with self._lock:
            self._counts["in_flight"] -= 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            in_flight = self._counts["in_flight"]
            self._counts = dict.fromkeys(self.KEYS, 0)
            self._counts["in_flight"] = in_flight
