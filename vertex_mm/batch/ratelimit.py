"""A client-side token bucket, shared by threads and coroutines, sized to a per-minute quota.

The bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second; each
request takes one. It is kept as one number, the time at which the bucket will be full again
(the "generic cell rate algorithm", GCRA), and every caller *reserves* its slot under a lock
before it sleeps. So callers are served in arrival order, none of them polls, and over any
window of ``w`` seconds at most ``burst + rate * w`` requests start: the limiter is exact over
a window, not just on average.

Clock and sleep are injectable, so tests drive it with a fake clock and assert exact times.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token bucket: ``rate`` requests per second, up to ``burst`` at once after a quiet spell.

    >>> limiter = RateLimiter.per_minute(600)      # 10 requests/s, no burst
    >>> limiter.acquire()                          # blocks until this caller's slot
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        async_sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate!r}")
        if not burst >= 1:
            raise ValueError(f"burst must be >= 1 token, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._lock = threading.Lock()
        # The bucket is full at any time >= _full_at; it starts full.
        self._full_at = clock()

    @classmethod
    def per_minute(cls, requests_per_minute: float, *, burst: float = 1.0, **kwargs: object) -> "RateLimiter":
        """A limiter for a quota stated per minute, the way Vertex AI states its quotas."""
        if not requests_per_minute > 0:
            raise ValueError(f"requests_per_minute must be > 0, got {requests_per_minute!r}")
        return cls(requests_per_minute / 60.0, burst=burst, **kwargs)  # type: ignore[arg-type]

    @property
    def requests_per_minute(self) -> float:
        return self.rate * 60.0

    def reserve(self, tokens: float = 1.0) -> float:
        """Claim the next slot and return how many seconds the caller must wait for it.

        The slot is taken even if the caller then gives up; an unused slot only makes the
        limiter slightly more conservative, never faster than the quota.
        """
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")
        with self._lock:
            now = self._clock()
            full_at = max(self._full_at, now) + tokens / self.rate
            self._full_at = full_at
            # Allowed once the bucket has room for these tokens: burst/rate before it is full.
            start_at = full_at - self.burst / self.rate
        return max(0.0, start_at - now)

    def refund(self, tokens: float = 1.0) -> None:
        """Give back tokens whose request the server rejected without counting it (a 429).

        The bucket never holds more than ``burst``: a refund into a full bucket is lost.
        """
        with self._lock:
            self._full_at = max(self._full_at - tokens / self.rate, self._clock())

    def acquire(self, tokens: float = 1.0, *, sleep: Callable[[float], object] | None = None) -> float:
        """Block until ``tokens`` may be spent; return the seconds waited.

        ``sleep`` overrides the limiter's sleep for this call (the batch runner passes one
        that wakes early when the batch is stopped).
        """
        delay = self.reserve(tokens)
        if delay > 0:
            (sleep or self._sleep)(delay)
        return delay

    async def aacquire(self, tokens: float = 1.0) -> float:
        """The coroutine twin of :meth:`acquire`; shares the bucket with threaded callers."""
        delay = self.reserve(tokens)
        if delay > 0:
            await self._async_sleep(delay)
        return delay

    def __repr__(self) -> str:
        return f"RateLimiter(requests_per_minute={self.requests_per_minute:g}, burst={self.burst:g})"
