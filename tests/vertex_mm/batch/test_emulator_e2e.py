"""End to end: the Vertex backend (the real gapic REST client) against the project's emulator
with injected latency, quota and faults; nothing is mocked."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from factories import image_bytes

from vertex_mm import get_embedder
from vertex_mm.batch import RetryPolicy
from vertex_mm.errors import InvalidArgumentError

emulator = pytest.importorskip("vertex_mm.emulator")

# Short waits keep the tests quick; the policy is otherwise the default one.
QUICK = RetryPolicy(name="quick", initial_backoff=0.05, jitter=0.05, max_backoff=0.5, max_attempts=10)


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    return [image_bytes("JPEG", size=(40, 30), color=(i * 9 % 256, i * 31 % 256, 77)) for i in range(24)]


@pytest.fixture(scope="module")
def reference(images):
    """The vectors a fault-free emulator serves (hashed vectors: deterministic)."""
    with emulator.run_emulator(backend="hashed") as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=None, concurrency=4)
        return np.asarray(emb.embed_images(images, dimension=128))


def test_faults_are_retried_until_every_item_is_embedded_in_order(images, reference):
    with emulator.run_emulator(backend="hashed", fault_rate_503=0.15, fault_rate_429=0.15, drop_rate=0.05,
                               retry_after=0.05, seed=3) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=6000, concurrency=4, retry=QUICK)
        out = emb.embed_images(images, dimension=128)
        stats = emu.stats()
    np.testing.assert_allclose(np.asarray(out), reference, rtol=1e-6)
    assert stats["2xx"] == len(images)
    assert stats["503"] > 0 and stats["429"] > 0 and stats["dropped"] > 0
    assert stats["requests"] == len(images) + stats["503"] + stats["429"] + stats["dropped"]


def test_a_400_from_the_service_is_not_retried(images):
    big = image_bytes("PNG", size=(300, 300))
    with emulator.run_emulator(backend="hashed", max_request_bytes=len(big)) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=6000, concurrency=2, retry=QUICK)
        out = emb.embed_images([images[0], big, images[1]], dimension=128, errors="collect")
        stats = emu.stats()
    assert out.ok.tolist() == [True, False, True]
    assert isinstance(out.errors[1], InvalidArgumentError)
    assert stats["requests"] == 3  # one attempt each


def test_the_quota_answers_429_with_retry_after_and_nothing_is_lost(images):
    # 2 requests per 0.5 s window server side; the client is set far above it on purpose.
    with emulator.run_emulator(backend="hashed", quota_rpm=240, quota_window=0.5) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=60000, concurrency=4, retry=QUICK)
        out = emb.embed_images(images[:6], dimension=128)
        stats = emu.stats()
    assert out.ok.all()
    assert stats["429"] > 0 and stats["2xx"] == 6


def test_async_batch_against_the_emulator(images, reference):
    with emulator.run_emulator(backend="hashed", fault_rate_503=0.2, retry_after=0.02, seed=5) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, requests_per_minute=6000, concurrency=4, retry=QUICK)
        out = asyncio.run(emb.aembed_images(images, dimension=128))
        emb.close()
    np.testing.assert_allclose(np.asarray(out), reference, rtol=1e-6)


def test_the_cache_spares_the_service(images, tmp_path):
    with emulator.run_emulator(backend="hashed") as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, concurrency=4, requests_per_minute=6000,
                           cache=tmp_path / "cache.sqlite")
        first = emb.embed_images(images[:6], dimension=128)
        second = emb.embed_images(images[:6] + images[:2], dimension=128)
        stats = emu.stats()
    assert stats["requests"] == 6
    np.testing.assert_array_equal(np.asarray(second)[:6], np.asarray(first))
