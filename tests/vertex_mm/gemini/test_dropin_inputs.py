"""The get_embeddings-shaped inputs of gemini-embedding-2 are checked before a request is spent:
a dict request with a misspelt key is that item's InputError (it was a TypeError: a 'backend
failure' in embed_many, the whole batch in aembed_many), and an inline video longer than the
model's 120 s is refused as embed_content refuses it (the service answered 400)."""

from __future__ import annotations

import asyncio

import pytest
from factories import mp4_bytes

from vertex_mm import Video, get_embedder
from vertex_mm.errors import InputError, InvalidVideoError


@pytest.fixture
def gemini(emulator):
    emb = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    yield emb
    emb.close()


def test_a_dict_request_with_an_unknown_key_is_that_items_input_error(gemini, emulator):
    requests = [{"contextual_text": "ok 1"}, {"text": "a misspelt key"}, {"contextual_text": "ok 2"}, ["not", "a dict"]]
    for results in (gemini.embed_many(requests), asyncio.run(gemini.aembed_many(requests))):
        assert [type(r).__name__ for r in results] == ["MultiModalEmbeddingResponse", "InputError",
                                                       "MultiModalEmbeddingResponse", "InputError"]
        assert "unknown field(s) ['text']; allowed: image, video, contextual_text" in str(results[1])
        assert "got list" in str(results[3])


def test_an_inline_video_over_120_s_is_refused_before_sending(gemini, emulator):
    long = Video(mp4_bytes(seconds=150.0, fps=1, size=(16, 16)), name="long.mp4")
    emulator.reset_stats()
    with pytest.raises(InvalidVideoError, match=r"long.mp4: the video is 150.0 s long; gemini-embedding-2 embeds at most "
                                                r"120 s"):
        gemini.get_embeddings(video=long, dimension=128)
    assert emulator.stats()["requests"] == 0
    assert isinstance(gemini.embed_many([{"video": long}])[0], InputError)
