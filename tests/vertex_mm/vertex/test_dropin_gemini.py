"""The drop-in on gemini-embedding-2: the model id picks the backend, ``vertexai.init`` settings
reach it as they reach the vertex backend, and a whole video's one segment ends at its duration."""

from __future__ import annotations

import json
import math
import warnings

import pytest
from google.auth.credentials import AnonymousCredentials

import vertex_mm
from vertex_mm import Video


@pytest.mark.parametrize("name", ["gemini-embedding-2", "publishers/google/models/gemini-embedding-2"])
def test_a_gemini_model_id_picks_the_gemini_backend(emulator, name):
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained(name, api_endpoint=emulator.url)
    try:
        assert model.embedder.backend == "gemini" and model.embedder.model == "gemini-embedding-2"
        r = model.get_embeddings(contextual_text="a cat", dimension=256)
        assert len(r.text_embedding) == 256 and r.space.id == "gemini/gemini-embedding-2/256"
    finally:
        model.embedder.close()


def test_the_preview_id_picks_gemini_and_says_it_is_superseded(emulator):
    with pytest.warns(FutureWarning, match="superseded by gemini-embedding-2"):
        import vertex_mm.limits.models as models

        models._warned.discard("gemini-embedding-2-preview")
        model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2-preview",
                                                                   api_endpoint=emulator.url)
    try:
        assert model.embedder.backend == "gemini" and model.embedder.model == "gemini-embedding-2"
    finally:
        model.embedder.close()


def test_the_vertex_model_id_still_picks_vertex(emulator):
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001", api_endpoint=emulator.url)
    try:
        assert model.embedder.backend == "vertex"
    finally:
        model.embedder.close()


def test_backend_gemini_with_the_default_id_is_gemini_embedding_2_as_before(emulator):
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained(backend="gemini", api_endpoint=emulator.url)
    try:
        assert model.embedder.model == "gemini-embedding-2"
    finally:
        model.embedder.close()


@pytest.mark.parametrize("region, expected", [("global", "global"), ("us", "us"), ("us-central1", "us"),
                                              ("europe-west4", "eu"), ("asia-northeast1", "global")])
def test_gemini_takes_vertexai_init_settings(emulator, vertexai_global_config, region, expected):
    import vertexai

    vertexai.init(project="init-project", location=region, api_endpoint=emulator.url,
                  credentials=AnonymousCredentials())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2")
    try:
        notes = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
        if region == expected:
            assert notes == []
        else:
            assert len(notes) == 1 and f"location={region!r}" in notes[0] and repr(expected) in notes[0]
        embedder = model.embedder
        assert (embedder.project, embedder.location, embedder.base_url) == ("init-project", expected, emulator.url)
        assert len(model.get_embeddings(contextual_text="a cat", dimension=128).text_embedding) == 128
    finally:
        model.embedder.close()


def test_an_option_given_wins_over_vertexai_init_on_gemini(emulator, vertexai_global_config):
    import vertexai

    vertexai.init(project="init-project", location="us-central1", api_endpoint=emulator.url)
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2", project="mine", location="eu")
    try:
        assert (model.embedder.project, model.embedder.location) == ("mine", "eu")
    finally:
        model.embedder.close()


def test_base_url_and_api_key_given_set_aside_what_they_replace(emulator, vertexai_global_config):
    import vertexai

    vertexai.init(project="init-project", location="global", api_endpoint="http://127.0.0.1:9",
                  credentials=AnonymousCredentials())
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2", base_url=emulator.url)
    try:
        assert model.embedder.base_url == emulator.url and model.embedder.project == "init-project"
    finally:
        model.embedder.close()
    keyed = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2", api_key="k", base_url=emulator.url)
    try:
        assert keyed.embedder.project is None
    finally:
        keyed.embedder.close()


def test_a_whole_inline_video_ends_at_its_duration(emulator, mp4_10s):
    pytest.importorskip("av")
    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained("gemini-embedding-2", api_endpoint=emulator.url)
    try:
        (v,) = model.get_embeddings(video=Video(mp4_10s), dimension=128).video_embeddings
        assert v.start_offset_sec == 0.0 and v.end_offset_sec == pytest.approx(10.0, abs=0.1)
        json.dumps({"end": v.end_offset_sec}, allow_nan=False)  # plain JSON, no Infinity
        (g,) = model.get_embeddings(video=Video(gcs_uri="gs://bucket/clip.mp4"), dimension=128).video_embeddings
        assert g.end_offset_sec == math.inf  # not downloaded: the duration is not known here
    finally:
        model.embedder.close()


def test_without_pyav_the_whole_video_still_ends_at_inf(monkeypatch, mp4_10s):
    import sys

    from vertex_mm.gemini import _whole_video_end

    monkeypatch.setitem(sys.modules, "av", None)
    assert _whole_video_end(Video(mp4_10s)) == math.inf
