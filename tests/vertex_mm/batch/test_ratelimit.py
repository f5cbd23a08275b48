"""The token bucket is exact over a window, shared by threads and coroutines (fake clock only)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vertex_mm.batch import RateLimiter


def limiter(clock, rate=10.0, burst=1.0) -> RateLimiter:
    return RateLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)


@pytest.mark.parametrize("rate,burst,n", [(10.0, 1.0, 100), (2.0, 1.0, 7), (10.0, 10.0, 300), (0.5, 3.0, 9)])
def test_n_acquisitions_take_n_minus_burst_over_rate_seconds(clock, rate, burst, n):
    rl = limiter(clock, rate, burst)
    start = clock.now
    for _ in range(n):
        rl.acquire()
    assert clock.now - start == pytest.approx((n - burst) / rate)


def test_requests_are_evenly_spaced_without_burst(clock):
    rl = limiter(clock, rate=4.0)
    starts = []
    for _ in range(9):
        rl.acquire()
        starts.append(clock.now)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([0.25] * 8)


def test_no_window_ever_sees_more_than_burst_plus_rate_times_width(clock):
    rate, burst = 10.0, 5.0
    rl = limiter(clock, rate, burst)
    starts = []
    for i in range(200):
        if i % 37 == 0:
            clock.sleep(1.3)  # quiet spells refill the bucket, up to its size only
        rl.acquire()
        starts.append(clock.now)
    for width in (0.5, 1.0, 6.0):
        most = max(sum(1 for t in starts if s <= t < s + width) for s in starts)
        assert most <= burst + rate * width + 1e-9


def test_a_quiet_spell_refills_at_most_the_burst(clock):
    rl = limiter(clock, rate=1.0, burst=3.0)
    for _ in range(3):
        assert rl.acquire() == 0.0
    clock.sleep(100.0)
    assert [rl.acquire() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_concurrent_threads_get_distinct_slots_spaced_by_the_rate(clock):
    rl = limiter(clock, rate=20.0)
    delays: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(25):
            d = rl.reserve()  # clock does not move: each caller gets the next free slot
            with lock:
                delays.append(d)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delays) == pytest.approx([i / 20.0 for i in range(200)])


def test_refund_gives_back_a_slot_but_never_overfills(clock):
    rl = limiter(clock, rate=1.0, burst=2.0)
    rl.acquire()
    rl.acquire()
    assert rl.reserve() == pytest.approx(1.0)  # third slot is a second away
    rl.refund()  # gives back the reservation just made...
    rl.refund()  # ...and one of the two spent tokens
    assert rl.reserve() == pytest.approx(0.0)
    assert rl.reserve() == pytest.approx(1.0)
    clock.sleep(50.0)
    rl.refund()  # a full bucket stays at its size
    assert [rl.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_async_acquire_shares_the_bucket(clock):
    rl = limiter(clock, rate=5.0)

    async def main() -> None:
        for _ in range(11):
            await rl.aacquire()

    rl.acquire()
    asyncio.run(main())
    assert clock.now - 1000.0 == pytest.approx(11 / 5.0)


def test_per_minute_quota_sets_the_rate(clock):
    rl = RateLimiter.per_minute(600, clock=clock, sleep=clock.sleep)
    assert rl.rate == 10.0 and rl.requests_per_minute == 600.0
    for _ in range(61):
        rl.acquire()
    assert clock.now - 1000.0 == pytest.approx(6.0)


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": -1}, {"rate": 1, "burst": 0.5}])
def test_bad_settings_fail_at_construction(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)
    with pytest.raises(ValueError):
        RateLimiter.per_minute(0)
