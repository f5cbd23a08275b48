"""The retry policy: retryable errors only, exponential backoff with jitter, Retry-After as a floor."""

from __future__ import annotations

import asyncio

import pytest

from vertex_mm.batch import DEFAULT_RETRY, NO_RETRY, RetryPolicy, is_retryable, resolve_retry
from vertex_mm.errors import (
    DeadlineExceededError,
    InternalServerError,
    InvalidArgumentError,
    InvalidImageError,
    PermissionDeniedError,
    QuotaExceededError,
    ServiceUnavailableError,
    TransportError,
)


class Flaky:
    """Raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        QuotaExceededError("429 RESOURCE_EXHAUSTED"),
        ServiceUnavailableError("503 UNAVAILABLE"),
        InternalServerError("500"),
        DeadlineExceededError("504"),
        TransportError("connection reset by peer"),
    ],
)
def test_retryable_errors_are_retried_until_success(error):
    sleeps: list[float] = []
    fn = Flaky(error, error)
    assert DEFAULT_RETRY.call(fn, sleep=sleeps.append) == "ok"
    assert fn.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "error",
    [InvalidArgumentError("400 INVALID_ARGUMENT"), PermissionDeniedError("403"), InvalidImageError("bad.jpg: truncated")],
)
def test_a_400_or_bad_input_is_never_retried(error):
    sleeps: list[float] = []
    fn = Flaky(error)
    with pytest.raises(type(error)):
        DEFAULT_RETRY.call(fn, sleep=sleeps.append)
    assert fn.calls == 1 and sleeps == []


def test_foreign_exceptions_surface_unretried():
    fn = Flaky(ConnectionResetError("raw socket error that escaped translation"))
    with pytest.raises(ConnectionResetError):
        DEFAULT_RETRY.call(fn, sleep=lambda s: None)
    assert fn.calls == 1
    assert not is_retryable(ConnectionResetError())


def test_waits_grow_exponentially_up_to_the_cap_without_jitter():
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=7, initial_backoff=1.0, multiplier=2.0, jitter=0.0, max_backoff=10.0)
    fn = Flaky(*[ServiceUnavailableError("503")] * 6)
    assert policy.call(fn, sleep=sleeps.append) == "ok"
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_takes_a_random_fraction_off_each_wait():
    from tenacity import RetryCallState

    from vertex_mm.batch import wait_backoff

    def state(n: int) -> RetryCallState:
        s = RetryCallState(None, None, (), {})
        s.attempt_number = n
        return s

    full = wait_backoff(1.0, 2.0, 60.0, jitter=1.0, rand=lambda lo, hi: 0.75)
    half = wait_backoff(1.0, 2.0, 60.0, jitter=0.5, rand=lambda lo, hi: 0.75)
    assert [full(state(n)) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert [half(state(n)) for n in (1, 2, 3)] == [0.625, 1.25, 2.5]
    waits = [DEFAULT_RETRY.wait()(state(3)) for _ in range(200)]
    assert all(0.0 <= w <= 4.0 for w in waits) and len(set(waits)) > 100  # full jitter over [0, 4)


def test_retry_after_is_a_floor_on_the_wait():
    sleeps: list[float] = []
    policy = RetryPolicy(initial_backoff=0.1, jitter=0.0)
    fn = Flaky(QuotaExceededError("429", retry_after=7.0), ServiceUnavailableError("503"))
    assert policy.call(fn, sleep=sleeps.append) == "ok"
    assert 7.0 <= sleeps[0] <= 7.0 * 1.1  # the server's wait, with at most 10% spread
    assert sleeps[1] == pytest.approx(0.2)  # no header: plain backoff


def test_a_huge_retry_after_is_capped():
    sleeps: list[float] = []
    policy = RetryPolicy(max_retry_after=30.0)
    Flaky_ = Flaky(QuotaExceededError("429", retry_after=3600.0))
    policy.call(Flaky_, sleep=sleeps.append)
    assert sleeps[0] <= 30.0 * 1.1


def test_gives_up_after_max_attempts_with_the_inputs_own_error():
    sleeps: list[float] = []
    last = ServiceUnavailableError("503 the last one")
    fn = Flaky(*[ServiceUnavailableError("503")] * 3, last, ServiceUnavailableError("never reached"))
    with pytest.raises(ServiceUnavailableError, match="the last one"):
        RetryPolicy(max_attempts=4).call(fn, sleep=sleeps.append)
    assert fn.calls == 4 and len(sleeps) == 3


def test_no_retry_makes_one_attempt():
    fn = Flaky(QuotaExceededError("429"))
    with pytest.raises(QuotaExceededError):
        NO_RETRY.call(fn, sleep=lambda s: pytest.fail("must not sleep"))
    assert fn.calls == 1


def test_async_retrying_follows_the_same_policy():
    sleeps: list[float] = []
    fn = Flaky(QuotaExceededError("429", retry_after=2.0), InvalidArgumentError("400"))

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    async def main() -> None:
        async for attempt in DEFAULT_RETRY.async_retrying(sleep=fake_sleep):
            with attempt:
                fn()

    with pytest.raises(InvalidArgumentError):
        asyncio.run(main())
    assert fn.calls == 2 and len(sleeps) == 1 and sleeps[0] >= 2.0


def test_policies_resolve_from_names_numbers_and_values():
    assert resolve_retry("default") is DEFAULT_RETRY
    assert resolve_retry("none") is NO_RETRY and resolve_retry(None) is NO_RETRY
    assert resolve_retry(3).max_attempts == 3
    custom = RetryPolicy(name="mine", max_attempts=2)
    assert resolve_retry(custom) is custom
    with pytest.raises(ValueError, match="unknown retry policy"):
        resolve_retry("forever")
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
