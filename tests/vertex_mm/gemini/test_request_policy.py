"""gemini-embedding-2 answers multimodalembedding@001-shaped inputs with several requests (an
image and a text; one per video segment). Each request takes its own rate-limit token and is
retried on its own: one token per input overran the quota up to 30 times, and one failed segment
threw away the segments already done (and paid for)."""

from __future__ import annotations

import asyncio
import time

import pytest
from factories import image_bytes, mp4_bytes

from vertex_mm import Image, Video, VideoSegmentConfig, get_embedder
from vertex_mm.batch import RetryPolicy
from vertex_mm.emulator import run_emulator
from vertex_mm.errors import ServiceUnavailableError


def test_each_request_of_an_input_takes_its_own_token():
    png = image_bytes("PNG", size=(32, 32), color=(1, 2, 3))
    with run_emulator(backend="hashed") as emu:
        # 1,200 a minute with a burst of 1: one request each 50 ms, whatever the inputs.
        g = get_embedder("gemini", base_url=emu.url, retry="none", requests_per_minute=1200, burst=1)
        requests = [dict(image=Image(png), contextual_text=f"caption {i}", dimension=128) for i in range(5)]
        emu.reset_stats()
        start = time.monotonic()
        results = g.embed_many(requests)
        elapsed = time.monotonic() - start
        assert not [r for r in results if isinstance(r, Exception)]
        assert emu.stats()["requests"] == 10
        assert elapsed >= 9 * 0.05 * 0.9, elapsed  # 10 tokens; one token per input let it through in ~0.2 s
        g.close()


def test_a_failed_segment_is_retried_alone_and_no_video_fails():
    mp4 = mp4_bytes(seconds=40.0, fps=1, size=(16, 16))
    policy = RetryPolicy(max_attempts=8, initial_backoff=0.001, max_backoff=0.002)
    with run_emulator(backend="hashed", fault_rate_503=0.2, seed=5, retry_after=0.0) as emu:
        g = get_embedder("gemini", base_url=emu.url, retry=policy, requests_per_minute=None, concurrency=2)
        requests = [dict(video=Video(mp4, name=f"v{i}.mp4"), video_segment_config=VideoSegmentConfig(0, 40, 4))
                    for i in range(6)]
        results = g.embed_many(requests)
        assert [len(r.video_embeddings) for r in results] == [10] * 6
        stats = emu.stats()
        assert stats["2xx"] == 60  # no segment answered twice: only the refused requests were sent again
        again = asyncio.run(g.aembed_many(requests[:2]))  # the async path sends each request on its own too
        assert [len(r.video_embeddings) for r in again] == [10, 10]
        g.close()


def test_a_single_call_is_retried_under_the_policy_and_retry_none_sends_once():
    # The documented contract of gemini's single calls (get_embeddings, embed_content): each
    # request is retried like a batch's, so an image with a text does not lose the half done.
    quick = RetryPolicy(max_attempts=3, initial_backoff=0.0, jitter=0.0, max_retry_after=0.0)
    with run_emulator(backend="hashed", fault_rate_503=1.0, retry_after=0.0) as emu:
        g = get_embedder("gemini", base_url=emu.url, retry=quick, requests_per_minute=None)
        with pytest.raises(ServiceUnavailableError):
            g.embed_content("one text")
        assert emu.stats()["requests"] == 3
        g.configure_batch(retry="none")
        emu.reset_stats()
        with pytest.raises(ServiceUnavailableError):
            g.get_embeddings(contextual_text="one text")
        assert emu.stats()["requests"] == 1
        g.close()
