"""One model, one space whatever its name; a page spec that cannot take a folder says so; an
MP3 cut to the audio limit is accepted; Embeddings indexed as numpy allows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from factories import mp3_bytes

from vertex_mm import Image, MultiModalEmbeddingModel
from vertex_mm.errors import InputError, InvalidAudioError
from vertex_mm.limits import GEMINI_EMBEDDING_2, canonical_model
from vertex_mm.limits.content import check_audio_bytes
from vertex_mm.registry import get_page_retriever, parse_page_retriever_spec
from vertex_mm.results import Embeddings, EmbeddingSpace
from vertex_mm.testing import InMemoryTransport
from vertex_mm.vertex import VertexEmbedder

# -- finding 3: the multimodalembedding alias -------------------------------------------------------


@pytest.mark.parametrize("name", ["multimodalembedding", "publishers/google/models/multimodalembedding",
                                  "projects/p/locations/us-central1/publishers/google/models/multimodalembedding@001"])
def test_other_names_of_the_model_are_its_space_and_cache(name, png_bytes):
    assert canonical_model(name) == "multimodalembedding@001"
    canonical = VertexEmbedder(transport=InMemoryTransport(), requests_per_minute=None)
    other = VertexEmbedder(model=name, transport=InMemoryTransport(), requests_per_minute=None)
    assert other.model == "multimodalembedding@001" and other.target.model == "multimodalembedding@001"
    assert other.space(512) == canonical.space(512) and other.space().id == "vertex/multimodalembedding@001/1408"
    request = other.build_request(image=Image(png_bytes))
    assert request.cache_key(other.model) == request.cache_key(canonical.model)
    vectors = other.embed_images([Image(png_bytes)])
    canonical.space().require_same(vectors.space)  # an @001 index takes the alias's queries


def test_the_dropin_alias_is_the_same_space():
    model = MultiModalEmbeddingModel.from_pretrained("multimodalembedding", transport=InMemoryTransport())
    assert model.embedder.space().id == "vertex/multimodalembedding@001/1408"


def test_a_space_id_written_under_the_alias_is_the_models_space():
    # Manifests of indexes built with the alias before it was resolved keep taking queries.
    old = EmbeddingSpace.from_id("vertex/multimodalembedding/1408")
    assert old == EmbeddingSpace("vertex", "multimodalembedding@001", 1408)
    assert EmbeddingSpace("local", "multimodalembedding", 8).model == "multimodalembedding"  # other backends: as named


# -- finding 7: a checkpoint folder for a page model that loads none -------------------------------------

@pytest.mark.parametrize("spec", ["regions:ckpt", "local:ckpt", "regions:/nonexistent"])
def test_regions_with_a_folder_is_an_input_error(spec):
    with pytest.raises(InputError, match=rf"regions takes no checkpoint folder \(got {spec!r}\)"):
        parse_page_retriever_spec(spec)
    with pytest.raises(InputError, match="takes no checkpoint folder"):
        get_page_retriever(spec)
    assert str(parse_page_retriever_spec("regions")) == "regions"
    assert parse_page_retriever_spec("colpali:/models/x").checkpoint == "/models/x"


# -- finding 7b: an MP3 cut to the audio limit -----------------------------------------------------------

def test_mp3_cut_to_the_limit_is_accepted_despite_encoder_padding():
    # The header-based length counts the encoder's delay and padding (2.0 s measures 2.07 s);
    # decoders drop them. A small limit stands in for the 180 s one: the slack is the same.
    assert GEMINI_EMBEDDING_2.content is not None
    limits = dataclasses.replace(GEMINI_EMBEDDING_2.content, max_audio_seconds=2.0)
    exact = mp3_bytes(seconds=2.0)
    mime, seconds = check_audio_bytes(exact, limits, name="clip.mp3")
    assert mime == "audio/mpeg" and 2.0 < seconds < 2.1
    with pytest.raises(InvalidAudioError, match="takes at most 2 s per content"):
        check_audio_bytes(mp3_bytes(seconds=2.25), limits, name="long.mp3")


# -- finding 8: Embeddings indexed with a new axis ------------------------------------------------------

def test_indexing_with_a_new_axis_gives_a_plain_array():
    errors: list = [None, InputError("bad"), None]
    e = Embeddings(np.arange(12, dtype=np.float32).reshape(3, 4), EmbeddingSpace("local", "m", 4), errors)
    for key in ((None, 0), (0, None), (None, slice(None), slice(None)), (slice(None), None)):
        out = e[key]
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, np.asarray(e)[key])
    kept = e[..., 1:3]
    assert isinstance(kept, Embeddings) and kept.errors == errors and kept.space is None
    picked = e[[2, 1]]
    assert picked.errors == [None, errors[1]] and picked.space == e.space
    assert e[1:2].errors == [errors[1]] and e[np.array([True, False, True])].errors == [None, None]


def test_broadcast_indexing_that_runs_the_rows_along_axis_1_gives_a_plain_array():
    errors: list = [None, InputError("e1"), None, InputError("e3"), None]
    e = Embeddings(np.arange(10, dtype=np.float32).reshape(5, 2), EmbeddingSpace("local", "m", 2), errors)
    mixed = e[[[1, 3]], [[0], [1]]]  # each output row holds a value of row 1 and one of row 3
    assert type(mixed) is np.ndarray
    np.testing.assert_array_equal(mixed, np.asarray(e)[[[1, 3]], [[0], [1]]])
    by_row = e[[[1], [3]], [[0, 1]]]  # one input row per output row: its errors follow
    assert isinstance(by_row, Embeddings) and by_row.errors == [errors[1], errors[3]]
    whole = e[()]  # like e[...]
    assert isinstance(whole, Embeddings) and whole.errors == errors and whole.space == e.space
