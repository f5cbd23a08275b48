"""The ``aembed_*`` coroutines read and check their inputs on the engine's threads, a few at a
time, never on the event loop: every input used to be read (and, for remote backends, fully
decoded) inside the coroutine before its first await, and an async server answered nothing
meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
from batch_doubles import BatchingEmbedder, ScriptedEmbedder
from factories import image_bytes

from vertex_mm.errors import InputError, InvalidImageError

#: How long building one request takes here (a large photo read and decode-checked).
BUILD_SECONDS = 0.03


class SlowInputs(ScriptedEmbedder):
    """Request building takes a while, as reading and decoding a large image does; records the
    threads it ran on and the most builds at once."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.build_threads: set[str] = set()
        self.building = self.max_building = 0

    def build_request(self, *args: Any, **kw: Any) -> Any:
        with self._lock:
            self.build_threads.add(threading.current_thread().name)
            self.building += 1
            self.max_building = max(self.max_building, self.building)
        try:
            time.sleep(BUILD_SECONDS)
            return super().build_request(*args, **kw)
        finally:
            with self._lock:
                self.building -= 1


async def _with_heartbeat(coro: Any) -> tuple[Any, float]:
    """``await coro`` while a heartbeat ticks; returns its result and the longest gap between ticks."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def beat() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(beat())
    try:
        return await coro, max(gaps, default=0.0)
    finally:
        done.set()
        await ticker


def test_aembed_texts_builds_off_the_event_loop_a_few_at_a_time():
    emb = SlowInputs(concurrency=3)
    texts = [f"text {i}" for i in range(24)]
    out, longest_stall = asyncio.run(_with_heartbeat(emb.aembed_texts(texts, dimension=128)))
    assert out.ok.all() and out.shape == (24, 128)
    assert threading.main_thread().name not in emb.build_threads
    assert emb.max_building <= 3  # memory follows the requests in flight, not the input
    # All on the loop, the 24 builds stalled it for 24 x 30 ms.
    assert longest_stall < 8 * BUILD_SECONDS, longest_stall


def test_aembed_many_builds_dict_requests_off_the_event_loop():
    emb = SlowInputs(concurrency=2)
    requests: list[Any] = [{"contextual_text": f"t{i}", "dimension": 128} for i in range(6)]
    requests.append({"contextual_text": "x", "colour": "red"})  # a misspelt key: that item's error
    results = asyncio.run(emb.aembed_many(requests))
    assert threading.main_thread().name not in emb.build_threads
    assert all(not isinstance(r, Exception) for r in results[:6]) and isinstance(results[6], InputError)


def test_bad_async_inputs_are_their_rows_errors_and_the_rest_goes_on(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    emb = ScriptedEmbedder(concurrency=2)
    good = image_bytes("JPEG", color=(10, 0, 0))
    out = asyncio.run(emb.aembed_images([good, bad, tmp_path / "missing.png", good], dimension=256,
                                        errors="collect"))
    assert out.ok.tolist() == [True, False, False, True]
    assert isinstance(out.errors[1], InvalidImageError) and "missing.png" in str(out.errors[2])


def test_async_repeats_are_sent_once_and_cached(tmp_path):
    emb = ScriptedEmbedder(concurrency=4, latency=0.01, cache=tmp_path / "c.sqlite")
    out = asyncio.run(emb.aembed_texts(["cat", "dog", "cat", "cat", "dog"], dimension=128))
    assert emb.total_calls == 2
    np.testing.assert_array_equal(out[0], out[3])
    again = ScriptedEmbedder(concurrency=4, cache=tmp_path / "c.sqlite")
    asyncio.run(again.aembed_texts(["cat", "dog"], dimension=128))
    assert again.total_calls == 0 and again.batch.cache.hits == 2


def test_a_cancelled_async_call_of_a_batching_backend_stops_at_its_next_chunk():
    emb = BatchingEmbedder(latency=0.02, chunk_size=2)  # 20 chunks of 40 ms

    async def main() -> None:
        try:
            await asyncio.wait_for(emb.aembed_texts([f"t{i}" for i in range(40)], dimension=128), timeout=0.1)
        except asyncio.TimeoutError:
            pass

    asyncio.run(main())
    emb._batch_engine().executor.shutdown(wait=True)
    assert len(emb.batches) <= 5  # the chunk in inference when cancelled finished; no other began
