"""The ordered runners (threads and asyncio): order, per-item errors, bounded concurrency,
lazy input, and Ctrl-C that keeps finished work."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time

import pytest

from vertex_mm.batch import BatchInterrupted, NotRunError
from vertex_mm.batch.aio import arun_ordered
from vertex_mm.batch.runner import run_ordered, stop_aware_sleep
from vertex_mm.errors import BackendError, InvalidArgumentError, VertexMMError


class Gauge:
    """Counts tasks in flight (the most at once) without timing anything."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_results_come_back_in_input_order_whatever_the_finishing_order():
    # Later items finish first: item i sleeps (20 - i) ms.
    def task(i: int) -> int:
        time.sleep((20 - i) / 1000)
        return i * i

    assert run_ordered(task, range(20), concurrency=8) == [i * i for i in range(20)]


def test_each_failed_item_gets_its_typed_error_and_the_batch_goes_on():
    def task(i: int) -> int:
        if i % 3 == 0:
            raise InvalidArgumentError(f"item {i} is bad")
        return i

    out = run_ordered(task, range(10), concurrency=4)
    for i, r in enumerate(out):
        if i % 3 == 0:
            assert isinstance(r, InvalidArgumentError) and f"item {i}" in str(r)
        else:
            assert r == i


def test_at_most_concurrency_tasks_run_at_once():
    gauge = Gauge()
    first_three = threading.Barrier(3, timeout=30)  # passes only if three really run together

    def task(i: int) -> int:
        with gauge:
            if i < 3:
                first_three.wait()
            time.sleep(0.001)
        return i

    run_ordered(task, range(40), concurrency=3)
    assert gauge.most == 3


def test_input_is_pulled_lazily_so_endless_streams_work():
    pulled = itertools.count()
    seen: list[int] = []

    def source():
        yield from pulled

    stop = threading.Event()

    def task(i: int) -> int:
        if i == 50:
            stop.set()
        return i

    with pytest.raises(BatchInterrupted):
        run_ordered(task, source(), concurrency=2, stop=stop, keep_results=False,
                    on_result=lambda idx, item, r: seen.append(idx))
    # It read only a small window beyond the item that asked to stop.
    assert next(pulled) < 50 + 2 * 2 + 2
    assert sorted(seen) == list(range(len(seen)))


def test_on_result_sees_every_item_once_on_the_calling_thread():
    calls: list[tuple[int, str, int]] = []
    caller = threading.current_thread()

    def on_result(index: int, item: str, result: int) -> None:
        assert threading.current_thread() is caller
        calls.append((index, item, result))

    run_ordered(len, ["a", "bb", "ccc", "dddd"], concurrency=3, on_result=on_result)
    assert sorted(calls) == [(0, "a", 1), (1, "bb", 2), (2, "ccc", 3), (3, "dddd", 4)]


def test_a_bug_in_a_task_is_that_items_backend_error_and_keeps_its_traceback():
    def task(i: int) -> int:
        if i == 3:
            raise ZeroDivisionError("a bug, not a service error")
        return i

    results = run_ordered(task, range(10), concurrency=2)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert isinstance(results[3], BackendError) and isinstance(results[3].__cause__, ZeroDivisionError)


def test_ctrl_c_stops_cleanly_and_keeps_finished_work():
    """A real SIGINT mid-batch: in-flight items finish, queued ones do not start, and the
    interruption carries every finished result."""
    started: list[int] = []
    lock = threading.Lock()

    def task(i: int) -> int:
        with lock:
            started.append(i)
        if i == 10:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C now
        time.sleep(0.01)
        return i * 10

    with pytest.raises(BatchInterrupted) as info:
        run_ordered(task, range(100), concurrency=4)
    results = info.value.results
    finished = {i: r for i, r in enumerate(results) if not isinstance(r, NotRunError)}
    assert 10 in finished and all(r == i * 10 for i, r in finished.items())
    assert set(finished) == set(started)  # everything that started was delivered
    assert len(results) < 100 and info.value.completed == len(finished)
    assert isinstance(info.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_stop_wakes_sleeping_retries_which_become_not_run():
    stop = threading.Event()
    sleep = stop_aware_sleep(stop)

    def task(i: int) -> int:
        if i == 0:
            stop.set()
            return 0
        sleep(3600)  # a long backoff that the stop must cut short
        return i

    with pytest.raises(BatchInterrupted) as info:
        run_ordered(task, range(3), concurrency=3, stop=stop)
    assert info.value.results[0] == 0
    assert all(isinstance(r, NotRunError) and r.retryable for r in info.value.results[1:])


def test_a_stream_keeps_no_slot_per_input():
    # keep_results=False kept a None per input: 80 MB for 10^7 inputs in a "flat memory" job.
    got: list[int] = []
    out = run_ordered(lambda i: i, (i for i in range(5000)), concurrency=4, keep_results=False,
                      on_result=lambda idx, item, r: got.append(idx))
    assert out == [] and sorted(got) == list(range(5000))


def test_an_interrupted_stream_counts_what_it_started():
    stop = threading.Event()

    def task(i: int) -> int:
        if i == 10:
            stop.set()
        return i

    with pytest.raises(BatchInterrupted) as info:
        run_ordered(task, itertools.count(), concurrency=2, keep_results=False, stop=stop)
    assert info.value.results == [] and 11 <= info.value.started < 100
    assert info.value.completed <= info.value.started
    assert f"of {info.value.started} started inputs" in str(info.value)


def test_concurrency_must_be_positive():
    with pytest.raises(ValueError):
        run_ordered(len, [], concurrency=0)


# -- the asyncio twin ----------------------------------------------------------------------


def test_async_runner_keeps_order_and_collects_errors():
    async def task(i: int) -> int:
        await asyncio.sleep((10 - i) / 1000)
        if i == 4:
            raise InvalidArgumentError("four is bad")
        return -i

    out = asyncio.run(arun_ordered(task, range(10), concurrency=5))
    assert [r for i, r in enumerate(out) if i != 4] == [-i for i in range(10) if i != 4]
    assert isinstance(out[4], VertexMMError)


def test_async_runner_bounds_concurrency():
    gauge = Gauge()

    async def task(i: int) -> int:
        with gauge:
            await asyncio.sleep(0.002)
        return i

    asyncio.run(arun_ordered(task, range(30), concurrency=4))
    assert gauge.most == 4


def test_async_cancellation_keeps_what_on_result_received():
    delivered: list[int] = []

    async def task(i: int) -> int:
        await asyncio.sleep(0 if i < 5 else 3600)
        return i

    async def main() -> None:
        job = asyncio.ensure_future(
            arun_ordered(task, range(20), concurrency=5, on_result=lambda idx, item, r: delivered.append(r))
        )
        while len(delivered) < 5:
            await asyncio.sleep(0.001)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(main())
    assert sorted(delivered) == [0, 1, 2, 3, 4]
