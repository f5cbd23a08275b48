"""The batch API of every embedder: embed_images / embed_texts / embed_many, sync and async,
running on the engine configured by configure_batch."""

from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pytest
from batch_doubles import BatchingEmbedder, ScriptedEmbedder, vector_for
from factories import image_bytes

from vertex_mm import BatchError, get_embedder
from vertex_mm.batch import DEFAULT_RETRY, REMOTE_DEFAULTS, BatchInterrupted, NotRunError, RetryPolicy
from vertex_mm.errors import InvalidArgumentError, InvalidImageError, QuotaExceededError, ServiceUnavailableError

FAST_RETRY = RetryPolicy(name="fast", initial_backoff=0.0, jitter=0.0, max_retry_after=0.0)


def texts(n: int) -> list[str]:
    return [f"text number {i}" for i in range(n)]


def test_vectors_come_back_in_input_order_under_concurrency():
    emb = ScriptedEmbedder(latency=lambda k: 0.001 * (hash(k) % 7), concurrency=8)
    out = emb.embed_texts(texts(40), dimension=128)
    assert out.shape == (40, 128)
    for i, t in enumerate(texts(40)):
        np.testing.assert_allclose(out[i], vector_for(t, 128), rtol=1e-6)
    assert emb.max_in_flight <= 8


def test_retryable_errors_are_retried_and_a_400_is_not():
    script = {
        "text number 1": [QuotaExceededError("429", retry_after=0.0), ServiceUnavailableError("503")],
        "text number 2": [InvalidArgumentError("400 INVALID_ARGUMENT: bad")],
    }
    emb = ScriptedEmbedder(script=script, concurrency=4, retry=FAST_RETRY)
    out = emb.embed_texts(texts(4), dimension=128, errors="collect")
    assert out.ok.tolist() == [True, True, False, True]
    assert emb.calls["text number 1"] == 3  # 429, 503, then the answer
    assert emb.calls["text number 2"] == 1  # a 400 is final
    assert isinstance(out.errors[2], InvalidArgumentError)


def test_the_batch_goes_on_past_bad_items_and_raises_at_the_end(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    good = [image_bytes("JPEG", color=(10 * i, 0, 0)) for i in range(3)]
    emb = ScriptedEmbedder(concurrency=2)
    with pytest.raises(BatchError) as info:
        emb.embed_images([good[0], bad, good[1], tmp_path / "missing.png", good[2]], dimension=256)
    result = info.value.result
    assert result.ok.tolist() == [True, False, True, False, True]
    assert isinstance(result.errors[1], InvalidImageError) and "broken.jpg" in str(result.errors[1])
    assert "missing.png" in str(result.errors[3])
    assert emb.total_calls == 3  # bad inputs never reached the backend


def test_embed_many_mixes_kinds_and_keeps_per_item_errors():
    emb = ScriptedEmbedder(concurrency=3, script={"boom": [InvalidArgumentError("400")]})
    results = emb.embed_many([{"contextual_text": "a"}, {"contextual_text": "boom"}, {"contextual_text": "c", "dimension": 7},
                              {"image": image_bytes("PNG"), "contextual_text": "b", "dimension": 512}])
    assert len(results[0].text_embedding) == 1408
    assert isinstance(results[1], InvalidArgumentError)
    assert isinstance(results[2], Exception) and "dimension" in str(results[2]).lower()
    assert len(results[3].image_embedding) == 512


def test_async_entry_points_match_the_sync_ones():
    script = {"text number 3": [ServiceUnavailableError("503")]}
    sync = ScriptedEmbedder(concurrency=4, retry=FAST_RETRY, script=dict(script)).embed_texts(texts(12), dimension=128)
    emb = ScriptedEmbedder(concurrency=4, retry=FAST_RETRY, script=dict(script))

    async def main():
        vecs = await emb.aembed_texts(texts(12), dimension=128)
        many = await emb.aembed_many([{"contextual_text": "x"}, {"contextual_text": ""}])
        one = await emb.aget_embeddings(image=image_bytes("JPEG"), dimension=128)
        imgs = await emb.aembed_images([image_bytes("JPEG")], dimension=128)
        return vecs, many, one, imgs

    vecs, many, one, imgs = asyncio.run(main())
    np.testing.assert_array_equal(np.asarray(vecs), np.asarray(sync))
    assert emb.calls["text number 3"] == 2
    assert len(many[0].text_embedding) == 1408 and isinstance(many[1], Exception)
    np.testing.assert_allclose(imgs[0], one.image_embedding)


def test_async_path_bounds_concurrency_on_the_engine_pool():
    import threading

    first_three = threading.Barrier(3, timeout=30)  # passes only if three really run together
    starters = set(texts(3))
    emb = ScriptedEmbedder(latency=0.001, concurrency=3,
                           on_call=lambda key: first_three.wait() if key in starters else None)
    asyncio.run(emb.aembed_texts(texts(24), dimension=128))
    assert emb.max_in_flight == 3


def test_a_backend_that_batches_itself_keeps_its_override():
    # Lists go through the stream too, in chunk_size chunks (each cached as it finishes).
    emb = BatchingEmbedder(chunk_size=5)
    out = emb.embed_texts(texts(12), dimension=128)
    assert out.shape == (12, 128) and emb.batches == [5, 5, 2]
    got: dict[int, object] = {}
    emb.embed_stream(texts(12), build=lambda t: emb.build_request(contextual_text=t, dimension=128),
                     on_result=lambda i, item, r: got.__setitem__(i, r))
    assert emb.batches[3:] == [5, 5, 2] and sorted(got) == list(range(12))
    assert asyncio.run(emb.aembed_texts(texts(3), dimension=128)).shape == (3, 128)
    assert emb.batches[-1] == 3


def test_ctrl_c_in_embed_texts_hands_back_the_finished_vectors():
    def on_call(key: str) -> None:
        if key == "text number 6":
            os.kill(os.getpid(), signal.SIGINT)

    emb = ScriptedEmbedder(latency=0.01, concurrency=2, on_call=on_call)
    with pytest.raises(BatchInterrupted) as info:
        emb.embed_texts(texts(200), dimension=128)
    partial = info.value.result
    assert partial.shape[0] == 200 and partial.ok[6] and partial.ok.sum() >= 7
    assert not partial.ok[-1] and isinstance(partial.errors[-1], NotRunError)
    for i in np.flatnonzero(partial.ok):
        np.testing.assert_allclose(partial[i], vector_for(f"text number {i}", 128), rtol=1e-6)


def test_configure_batch_validates_and_merges():
    emb = ScriptedEmbedder()
    assert emb.batch.concurrency == 1 and emb.batch.requests_per_minute is None
    emb.configure_batch(concurrency=5, retry="default")
    emb.configure_batch(requests_per_minute=600)
    assert emb.batch.concurrency == 5 and emb.batch.retry is DEFAULT_RETRY
    assert emb.batch.requests_per_minute == 600 and emb.batch.burst_tokens == 10
    with pytest.raises(TypeError, match="rpm"):
        emb.configure_batch(rpm=10)
    with pytest.raises(ValueError):
        emb.configure_batch(concurrency=0)


def test_the_vertex_backend_takes_batch_options_in_its_constructor():
    emb = get_embedder("vertex", project="p", api_endpoint="http://127.0.0.1:9", requests_per_minute=300, concurrency=4)
    assert emb.batch.requests_per_minute == 300 and emb.batch.concurrency == 4
    assert emb.batch.retry is DEFAULT_RETRY
    default = get_embedder("vertex", project="p", api_endpoint="http://127.0.0.1:9")
    assert default.batch.requests_per_minute == REMOTE_DEFAULTS["requests_per_minute"] == 120
    with pytest.raises(TypeError, match="unknown batch option"):
        get_embedder("vertex", project="p", api_endpoint="http://127.0.0.1:9", requests_per_second=3)


@pytest.mark.parametrize("backend", ["local", "hashed"])
def test_every_backend_takes_the_batch_options_from_get_embedder(backend, tmp_path):
    """Code written against the cloud runs unchanged locally: get_embedder("local", cache=...)
    was a TypeError from the local model's factory."""
    emb = get_embedder(backend, cache=str(tmp_path / "c.sqlite"), requests_per_minute=600, concurrency=2)
    try:
        assert emb.batch.requests_per_minute == 600 and emb.batch.concurrency == 2
        emb.embed_texts(["a cat"])
        assert emb.batch.cache is not None and len(emb.batch.cache) == 1
    finally:
        emb.close()


def test_progress_is_off_by_default_and_shows_rate_and_eta_when_asked(capsys):
    emb = ScriptedEmbedder(concurrency=2)
    emb.embed_texts(texts(5), dimension=128)
    assert capsys.readouterr().err == ""
    emb.embed_texts(texts(5), dimension=128, progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "item/s" in err and "<00:00" in err
