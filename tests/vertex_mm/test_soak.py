"""Soak: 10,000 mixed good and bad requests through the vertex backend against the emulator with
faults on (503s, 429s, dropped connections). Every input ends with a vector or a typed error,
and file handles and memory stay flat (issue 11, item 6). Loopback only; bounded in time."""

from __future__ import annotations

import os

import pytest
from factories import image_bytes

from vertex_mm import get_embedder
from vertex_mm.batch import RetryPolicy
from vertex_mm.emulator import run_emulator
from vertex_mm.errors import VertexMMError

N = 10_000


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _requests(n: int) -> list[dict]:
    good_image, bad_image = image_bytes("PNG"), image_bytes("JPEG")[:40]
    out = []
    for i in range(n):
        kind = i % 10
        if kind == 0:
            out.append({"contextual_text": ""})  # refused before the network
        elif kind == 1:
            out.append({"image": bad_image})  # a truncated JPEG: refused before the network
        elif kind == 2:
            out.append({"image": good_image, "dimension": 128})
        else:
            out.append({"contextual_text": f"text number {i}", "dimension": 128})
    return out


def _run(emb, requests: list[dict], outcomes: dict, offset: int = 0) -> None:
    """Stream ``requests`` through the engine, keeping only each outcome's kind by input index
    (so what the process holds afterwards is the client's own state, not the results)."""
    def build(r):
        return emb.build_request(**r)

    def keep(index, request, result):
        ok = not isinstance(result, VertexMMError) and bool(result.text_embedding or result.image_embedding)
        outcomes[offset + index] = "ok" if ok else type(result).__name__

    emb.embed_stream(requests, build=build, on_result=keep, total=len(requests))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="counts files and memory through /proc")
def test_ten_thousand_mixed_requests_under_faults_all_end_typed_with_flat_resources():
    fast_retry = RetryPolicy(name="soak", max_attempts=8, initial_backoff=0.005, max_backoff=0.05, max_retry_after=0.05)
    by_index: dict[int, str] = {}
    with run_emulator(backend="hashed", fault_rate_503=0.03, fault_rate_429=0.03, drop_rate=0.01, seed=7,
                      retry_after=0.0) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=None, concurrency=16, retry=fast_retry)
        try:
            requests = _requests(N)
            _run(emb, requests[:500], {})  # warm: connection pool, threads, allocator
            fds0, rss0 = _fds(), _rss_mb()
            _run(emb, requests[: N // 2], by_index)
            fds_half, rss_half = _fds(), _rss_mb()
            _run(emb, requests[N // 2 :], by_index, offset=N // 2)
            fds1, rss1 = _fds(), _rss_mb()
        finally:
            emb.close()
        stats = emu.stats()
    print(f"soak: {N} requests; open files {fds0} -> {fds_half} -> {fds1}; RSS {rss0:.0f} -> {rss_half:.0f} -> "
          f"{rss1:.0f} MB; emulator {stats}")
    assert sorted(by_index) == list(range(N))  # every input ended, exactly once
    outcomes = [by_index[i] for i in range(N)]
    assert all(o == "InvalidTextError" for o in outcomes[0::10])  # empty texts, refused before the network
    assert all(o == "InvalidImageError" for o in outcomes[1::10])  # truncated JPEGs, likewise
    others = [o for i, o in enumerate(outcomes) if i % 10 > 1 and o != "ok"]
    assert len(others) <= N // 200, f"{len(others)} inputs failed after retries: {others[:5]}"
    assert stats["503"] > 0 and stats["429"] > 0 and stats["dropped"] > 0  # the faults did happen
    assert fds1 <= fds0 + 10 and fds1 <= fds_half + 5
    assert rss1 <= rss_half + 20  # the second 5,000 cost no more memory than the first
