"""The on-disk cache: content-addressed, spaces kept apart, safe under threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from batch_doubles import BatchingEmbedder, ScriptedEmbedder
from factories import image_bytes

from vertex_mm import get_embedder
from vertex_mm.jobs import EmbeddingCache
from vertex_mm.results import EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding


def test_a_rerun_costs_nothing_and_returns_the_same_vectors(tmp_path):
    images = [image_bytes("JPEG", color=(i * 50, 20, 20)) for i in range(5)]
    first = ScriptedEmbedder(concurrency=3, cache=tmp_path / "c.sqlite")
    a = first.embed_images(images, dimension=256)
    assert first.total_calls == 5
    again = ScriptedEmbedder(concurrency=3, cache=tmp_path / "c.sqlite")  # a new process would do the same
    b = again.embed_images(images, dimension=256)
    assert again.total_calls == 0
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert again.batch.cache.hits == 5


def test_repeated_items_in_one_batch_are_asked_once(tmp_path):
    emb = ScriptedEmbedder(concurrency=4, cache=tmp_path / "c.sqlite")
    out = emb.embed_texts(["cat", "dog", "cat", "cat", "dog"], dimension=128)
    assert emb.total_calls == 2
    np.testing.assert_array_equal(out[0], out[3])


def test_key_covers_bytes_text_model_dimension_and_space(tmp_path):
    emb = ScriptedEmbedder()
    img = image_bytes("PNG")
    base = emb._cache_key(emb.build_request(image=img, contextual_text="a", dimension=128))
    variants = [
        emb.build_request(image=image_bytes("PNG", color=(1, 2, 3)), contextual_text="a", dimension=128),
        emb.build_request(image=img, contextual_text="b", dimension=128),
        emb.build_request(image=img, contextual_text="a", dimension=256),
    ]
    keys = {base, *(emb._cache_key(r) for r in variants)}
    other_model = ScriptedEmbedder()
    other_model.model = "another-model"
    keys.add(other_model._cache_key(emb.build_request(image=img, contextual_text="a", dimension=128)))
    assert len(keys) == 5
    assert emb._cache_key(emb.build_request(image=img, contextual_text="a", dimension=128)) == base


def test_vertex_endpoints_do_not_share_entries():
    real = get_embedder("vertex", project="p", api_endpoint="http://127.0.0.1:9")
    other = get_embedder("vertex", project="p", api_endpoint="http://127.0.0.1:10")
    req = real.build_request(contextual_text="same text", dimension=128)
    assert real._cache_key(req) != other._cache_key(req)


def test_a_backend_that_batches_itself_uses_the_cache_too(tmp_path):
    emb = BatchingEmbedder(cache=tmp_path / "c.sqlite")
    emb.embed_texts(["a", "b", "c"], dimension=128)
    emb.embed_texts(["a", "b", "c", "d"], dimension=128)
    assert emb.batches == [3, 1]


def test_responses_round_trip_as_float32_with_video_segments(tmp_path):
    space = EmbeddingSpace("vertex", "multimodalembedding@001", 4)
    resp = MultiModalEmbeddingResponse(
        image_embedding=[0.1, 0.2, 0.3, 0.4],
        text_embedding=None,
        video_embeddings=[VideoEmbedding(0.0, 16.0, [1.0, 0.0, 0.0, 0.0])],
        space=space,
    )
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put("k", resp)
        cache.put("k", MultiModalEmbeddingResponse(image_embedding=[9.0] * 4, space=space))  # first writer wins
        got = cache.get("k")
        assert cache.get("missing") is None and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(got.image_embedding, np.float32([0.1, 0.2, 0.3, 0.4]))
    assert got.text_embedding is None and got.space == space
    assert got.video_embeddings[0].end_offset_sec == 16.0 and got.video_embeddings[0].embedding == [1.0, 0.0, 0.0, 0.0]


def test_threads_share_one_cache_object(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    space = EmbeddingSpace("t", "m", 2)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        try:
            for i in range(100):
                key = f"k{i % 50}"  # every thread writes and reads the same 50 keys
                cache.put(key, MultiModalEmbeddingResponse(text_embedding=[float(i % 50), 1.0], space=space))
                got = cache.get(key)
                assert got is not None and got.text_embedding[0] == float(i % 50)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) == 50
    cache.close()


@pytest.mark.slow
def test_processes_write_the_same_file_at_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    script = textwrap.dedent(
        """
        import sys
        from vertex_mm.jobs import EmbeddingCache
        from vertex_mm.results import EmbeddingSpace, MultiModalEmbeddingResponse
        worker = int(sys.argv[2])
        cache = EmbeddingCache(sys.argv[1])
        space = EmbeddingSpace("t", "m", 3)
        for i in range(300):
            key = f"shared-{i}" if i % 2 else f"own-{worker}-{i}"
            cache.put(key, MultiModalEmbeddingResponse(image_embedding=[float(i), 0.0, 1.0], space=space))
            assert cache.get(key).image_embedding[0] == float(i)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    cache = EmbeddingCache(path)
    assert len(cache) == 150 + 4 * 150
    assert cache.get("shared-7").image_embedding == [7.0, 0.0, 1.0]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_forty_cached_batch_calls_keep_file_handles_bounded_and_close_returns_them(tmp_path):
    emb = ScriptedEmbedder(concurrency=8, cache=tmp_path / "c.sqlite")
    emb.embed_texts(["warm"], dimension=128)
    start = _open_fds()
    for i in range(40):
        emb.embed_texts([f"text {i}-{j}" for j in range(16)], dimension=128)
    assert _open_fds() <= start + 20
    emb.close()
    assert _open_fds() <= start - 1  # the pool's connections (and their WAL files) are gone too


@pytest.mark.parametrize("batching", [False, True], ids=["per-item", "batching-backend"])
def test_a_locked_cache_is_skipped_with_one_warning_and_the_vectors_are_returned(tmp_path, batching):
    # Another job holds the shared sqlite file's write lock past our timeout: before, every vector
    # the service had returned (and billed) became an error, and an async batch failed whole.
    import asyncio
    import sqlite3

    from vertex_mm.errors import CacheUnavailableWarning

    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path, timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        make = BatchingEmbedder if batching else ScriptedEmbedder
        emb = make(concurrency=2, cache=cache)
        texts = [f"text {i}" for i in range(4)]
        with pytest.warns(CacheUnavailableWarning, match="could not write .*database is locked.*going on without it") as seen:
            result = emb.embed_texts(texts, dimension=128, errors="collect")
        assert result.errors == [None] * 4 and len(seen) == 1
        with pytest.warns(CacheUnavailableWarning):
            again = asyncio.run(make(concurrency=2, cache=cache).aembed_texts(texts, dimension=128, errors="collect"))
        assert again.errors == [None] * 4
        np.testing.assert_array_equal(np.asarray(again), np.asarray(result))
    finally:
        other.rollback()
        other.close()
        cache.close()


def test_an_async_batch_cancelled_part_way_keeps_what_finished_in_the_cache(tmp_path):
    # Before, the async path cached a batch only once all of it returned: a timeout lost every
    # vector already paid for.
    import asyncio

    from vertex_mm.emulator import run_emulator

    with run_emulator(backend="hashed", latency=0.05) as emu:
        emb = get_embedder("vertex", api_endpoint=emu.url, retry="none", requests_per_minute=None, concurrency=2,
                           cache=tmp_path / "c.sqlite")
        texts = [f"text {i}" for i in range(400)]

        async def cut_short() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(emb.aembed_texts(texts, dimension=128), timeout=0.6)

        asyncio.run(cut_short())
        answered = len(emb.batch.cache)
        assert 0 < answered < len(texts)
        before = emu.stats()["2xx"]
        emb.embed_texts(texts[:answered], dimension=128)  # finished before the cut: not asked again
        assert emu.stats()["2xx"] - before <= 2  # (at most the requests in flight at the cut)
        emb.close()
