"""gemini-embedding-2 answers multimodalembedding@001-shaped inputs with several requests (an
image and a text; one per video segment). Each request takes its own rate-limit token and is
retried on its own: one token per input overran the quota up to 30 times, and one failed segment
threw away the segments already done (and paid for)."""

from __future__ import annotations

import asyncio
import time

from factories import image_bytes, mp4_bytes

from vertex_mm import Image, Video, VideoSegmentConfig, get_embedder
from vertex_mm.batch import RetryPolicy
from vertex_mm.emulator import run_emulator


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
