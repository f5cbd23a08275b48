"""A model named by its resource path (``publishers/google/models/gemini-embedding-2``, a form the
SDKs accept) is the same model: its space and cache keys are named by the short id. Before, the
path went into the space id, which cannot be parsed back, so every cache hit of a second run
failed, and an index built under the short id refused the same model's vectors."""

from __future__ import annotations

import pytest

from vertex_mm import get_embedder
from vertex_mm.limits import model_id

PATHS = ["publishers/google/models/gemini-embedding-2",
         "projects/p/locations/us-central1/publishers/google/models/gemini-embedding-2"]


@pytest.mark.parametrize("path", PATHS)
def test_a_resource_path_names_the_short_ids_space_and_cache_hits_work(emulator, tmp_path, path):
    cache = tmp_path / "cache.sqlite"
    by_path = get_embedder("gemini", base_url=emulator.url, model=path, retry="none", requests_per_minute=None,
                           cache=cache)
    short = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    assert by_path.model == "gemini-embedding-2" and by_path.space(768) == short.space(768)
    first = by_path.embed_texts(["hello", "world"], dimension=768, errors="collect")
    again = by_path.embed_texts(["hello", "world"], dimension=768, errors="collect")  # from the cache
    assert first.errors == again.errors == [None, None]
    assert (again == first).all() and again.space == short.space(768)


def test_model_id_strips_publisher_paths_only():
    assert model_id("gemini-embedding-2") == "gemini-embedding-2"
    assert all(model_id(p) == "gemini-embedding-2" for p in PATHS)
    assert model_id("publishers/google/models/multimodalembedding@001") == "multimodalembedding@001"
    endpoint = "projects/p/locations/us-central1/endpoints/123"  # a tuned model's endpoint is not a publisher model
    assert model_id(endpoint) == endpoint
