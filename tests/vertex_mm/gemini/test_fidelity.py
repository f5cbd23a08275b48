"""GeminiEmbedder against the emulator, on points where it must behave as google-genai and the
service do (the audit in the fidelity notes): dimensions for every input, and the config
fields it sends."""

from __future__ import annotations

import pytest

from vertex_mm import Video, get_embedder
from vertex_mm.errors import InvalidDimensionError


@pytest.fixture
def gemini(emulator):
    emb = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    yield emb
    emb.close()


@pytest.mark.parametrize("dimension", [128, 256, 1000, 3072])
def test_a_video_takes_any_dimension_of_the_range_as_other_inputs_do(gemini, mp4_10s, dimension):
    # gemini-embedding-2 embeds a video as one more content part: output_dimensionality is
    # free (128..3072) whatever the parts are, so get_embeddings(video=...) takes it as well.
    video = Video(mp4_10s)
    response = gemini.get_embeddings(video=video, dimension=dimension)
    assert len(response.video_embeddings) == 1
    assert len(response.video_embeddings[0].embedding) == dimension
    assert gemini.embed_content([video], dimension=dimension).shape == (dimension,)


@pytest.mark.parametrize("dimension", [64, 4096])
def test_a_video_dimension_outside_the_range_is_refused_naming_the_range(gemini, mp4_10s, dimension):
    with pytest.raises(InvalidDimensionError, match=r"128\.\.3072"):
        gemini.get_embeddings(video=Video(mp4_10s), dimension=dimension)
