"""Cancelling a gemini coroutine stops its requests and retries.

gemini sends each service request from the engine's threads (one input may take several). A
thread cannot be cancelled: after ``wait_for`` gave up, the threads went on sending and
retrying for up to ``give_up_after`` seconds, spending quota, and the process could not exit
until they were done. The async progress bar did not count their retries either.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from vertex_mm import get_embedder
from vertex_mm.batch import Progress, RetryPolicy
from vertex_mm.emulator import run_emulator

#: Retries every 50 ms for as long as anyone lets it: only a cancellation ends it.
ENDLESS = RetryPolicy(name="endless", max_attempts=10_000, initial_backoff=0.05, max_backoff=0.05, jitter=0.0,
                      max_retry_after=0.0, give_up_after=None)


def _batch(g):
    return g.aembed_texts([f"text {i}" for i in range(8)], errors="collect")


def _single(g):
    return g.aembed_content("one text")


@pytest.mark.parametrize("call", [_batch, _single], ids=["aembed_texts", "aembed_content"])
def test_a_cancelled_call_sends_nothing_more_and_its_threads_end(call):
    with run_emulator(backend="hashed", fault_rate_503=1.0, retry_after=0.0) as emu:
        g = get_embedder("gemini", base_url=emu.url, retry=ENDLESS, requests_per_minute=None, concurrency=4)

        async def main() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(call(g), timeout=0.4)

        asyncio.run(main())
        assert emu.stats()["requests"] >= 2  # it was retrying when cancelled
        executor = g._batch_engine().executor
        joined = threading.Thread(target=executor.shutdown, kwargs={"wait": True}, daemon=True)
        joined.start()
        joined.join(3.0)  # what the interpreter does at exit: requests on the wire end, nothing follows
        assert not joined.is_alive(), "the pool's threads were still retrying after the cancel"
        sent = emu.stats()["requests"]
        time.sleep(0.3)
        assert emu.stats()["requests"] == sent
        g.close()


def test_the_async_progress_bar_counts_each_retry():
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.0, jitter=0.0, max_retry_after=0.0)
    with run_emulator(backend="hashed", fault_rate_503=1.0, retry_after=0.0) as emu:
        g = get_embedder("gemini", base_url=emu.url, retry=policy, requests_per_minute=None, concurrency=2)
        texts = [f"text {i}" for i in range(4)]
        bar = Progress(len(texts))
        results = asyncio.run(g._batch_engine().alist(
            texts, build=lambda t: g.build_request(contextual_text=t, dimension=128), apredict=g._apredict,
            progress=bar))
        assert all(isinstance(r, Exception) for r in results)
        assert emu.stats()["503"] == 12 and bar.retries == 8 and bar.failed == 4  # 3 attempts, 2 retries each
        g.close()
