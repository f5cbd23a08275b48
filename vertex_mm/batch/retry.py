"""The retry policy, as data: which errors are retried, how long to wait, when to give up.

Built on tenacity. Only errors whose type says ``retryable`` are retried (429, 500, 503, 504,
deadline exceeded, connection reset: see :mod:`vertex_mm.errors`); a 400 or any bad input is
final at once. Waits grow exponentially with random jitter, on the schedule google-api-core's
own ``Retry`` uses (truncated exponential backoff from 1 s, doubling, at most 60 s, "full
jitter"), and a server's ``Retry-After`` is a floor: the client never comes back sooner than
the server said.

>>> policy = RetryPolicy(max_attempts=5)
>>> for attempt in policy.retrying():
...     with attempt:
...         response = call()
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import tenacity
from tenacity import RetryCallState
from tenacity.wait import wait_base

from ..errors import VertexMMError

__all__ = [
    "DEFAULT_RETRY",
    "NO_RETRY",
    "RetryPolicy",
    "is_retryable",
    "resolve_retry",
    "wait_backoff",
    "wait_retry_after",
]


def is_retryable(exc: BaseException) -> bool:
    """True for our errors whose type is marked retryable; never for anything else.

    Foreign exceptions are translated at the transport boundary; one that reaches here is
    a bug and must surface, not be retried.
    """
    return isinstance(exc, VertexMMError) and bool(getattr(exc, "retryable", False))


class wait_backoff(wait_base):
    """Truncated exponential backoff with jitter: before retry ``n`` (1-based) wait
    ``b * (1 - jitter * u)``, where ``b = min(initial * multiplier**(n-1), maximum)`` and
    ``u`` is uniform in [0, 1). ``jitter=1`` is "full jitter" (uniform in [0, b)), which
    spreads clients that failed together; ``jitter=0`` waits exactly ``b``.
    """

    def __init__(self, initial: float, multiplier: float, maximum: float, jitter: float,
                 rand: Callable[[float, float], float] = random.uniform) -> None:
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
        self.rand = rand

    def __call__(self, retry_state: RetryCallState) -> float:
        try:
            backoff = min(self.initial * self.multiplier ** (retry_state.attempt_number - 1), self.maximum)
        except OverflowError:
            backoff = self.maximum
        return backoff * (1.0 - self.jitter * self.rand(0.0, 1.0))


class wait_retry_after(wait_base):
    """Wait as ``fallback`` says, but never less than the error's ``retry_after`` seconds.

    ``retry_after`` comes from the server's ``Retry-After`` header (see the transport). A
    little proportional jitter keeps many workers that got the same header from returning in
    the same instant. ``cap`` bounds what a server can ask for.
    """

    def __init__(self, fallback: wait_base, *, cap: float = 300.0, spread: float = 0.1,
                 rand: Callable[[float, float], float] = random.uniform) -> None:
        self.fallback = fallback
        self.cap = cap
        self.spread = spread
        self.rand = rand

    def __call__(self, retry_state: RetryCallState) -> float:
        base = float(self.fallback(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        after = getattr(exc, "retry_after", None)
        if after is None:
            return base
        after = min(max(0.0, float(after)), self.cap)
        return max(base, after * (1.0 + self.rand(0.0, self.spread)))


@dataclass(frozen=True)
class RetryPolicy:
    """How one input is retried. Frozen: derive variants with :meth:`replace`.

    The wait before retry ``n`` (1-based) is :class:`wait_backoff`: ``min(initial_backoff *
    multiplier**(n-1), max_backoff)``, less a random fraction up to ``jitter`` of it, then
    raised to the server's ``Retry-After`` when one was sent. An input gives up after
    ``max_attempts`` attempts or ``give_up_after`` seconds, whichever comes first, and then
    its last typed error is its result.
    """

    name: str = "default"
    max_attempts: int = 8
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    multiplier: float = 2.0
    jitter: float = 1.0
    max_retry_after: float = 300.0
    give_up_after: float | None = 900.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff times must be >= 0 seconds")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter is the random fraction of each wait, within [0, 1]; got {self.jitter}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")

    def replace(self, **changes: Any) -> "RetryPolicy":
        return replace(self, **changes)

    # -- the tenacity strategies -------------------------------------------------------
    def stop(self) -> Any:
        stop: Any = tenacity.stop_after_attempt(self.max_attempts)
        if self.give_up_after is not None:
            stop = stop | tenacity.stop_after_delay(self.give_up_after)
        return stop

    def wait(self) -> wait_base:
        backoff = wait_backoff(self.initial_backoff, self.multiplier, self.max_backoff, self.jitter)
        return wait_retry_after(backoff, cap=self.max_retry_after)

    def _kwargs(self, before_sleep: Callable[[RetryCallState], Any] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "stop": self.stop(),
            "wait": self.wait(),
            "retry": tenacity.retry_if_exception(is_retryable),
            # The caller gets the input's own typed error, not tenacity's RetryError.
            "reraise": True,
        }
        if before_sleep is not None:
            kwargs["before_sleep"] = before_sleep
        return kwargs

    def retrying(
        self,
        *,
        sleep: Callable[[float], Any] = time.sleep,
        before_sleep: Callable[[RetryCallState], Any] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity ``Retrying`` for this policy; ``sleep`` is injectable for tests."""
        return tenacity.Retrying(sleep=sleep, **self._kwargs(before_sleep))

    def async_retrying(
        self,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        before_sleep: Callable[[RetryCallState], Any] | None = None,
    ) -> tenacity.AsyncRetrying:
        """The asyncio twin of :meth:`retrying`."""
        return tenacity.AsyncRetrying(sleep=sleep, **self._kwargs(before_sleep))

    def call(self, fn: Callable[[], Any], **kwargs: Any) -> Any:
        """Run ``fn`` under this policy (keyword arguments go to :meth:`retrying`)."""
        return self.retrying(**kwargs)(fn)


#: google-api-core's schedule: from 1 s, doubling, at most 60 s, full jitter; 8 attempts.
DEFAULT_RETRY = RetryPolicy()
#: One attempt; every error is final. The default for local backends, where retrying cannot help.
NO_RETRY = RetryPolicy(name="none", max_attempts=1)

_NAMED = {p.name: p for p in (DEFAULT_RETRY, NO_RETRY)}


def resolve_retry(policy: RetryPolicy | str | int | None) -> RetryPolicy:
    """``"default"``, ``"none"``, ``None`` (no retry), a number of attempts, or a policy."""
    if policy is None:
        return NO_RETRY
    if isinstance(policy, RetryPolicy):
        return policy
    if isinstance(policy, bool):
        raise TypeError("retry must be a RetryPolicy, a policy name or a number of attempts, not a bool")
    if isinstance(policy, int):
        return DEFAULT_RETRY.replace(name=f"default-{policy}", max_attempts=policy)
    if isinstance(policy, str) and policy in _NAMED:
        return _NAMED[policy]
    raise ValueError(f"unknown retry policy {policy!r}; use one of {sorted(_NAMED)}, a number, or a RetryPolicy")
