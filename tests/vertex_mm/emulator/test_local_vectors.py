"""With the local backend installed, the emulator serves its real vectors (slow: loads models)."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm import Image, get_embedder
from vertex_mm.emulator import run_emulator
from vertex_mm.errors import WeightsNotFoundError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local():
    try:
        return get_embedder("local")
    except (ImportError, WeightsNotFoundError) as exc:  # MissingDependencyError is an ImportError
        pytest.skip(f"local backend unavailable: {exc}")


@pytest.fixture(scope="module")
def auto_emulator(local):
    with run_emulator() as emu:  # backend="auto"
        yield emu


def test_auto_serves_the_local_backends_vectors(auto_emulator, local, jpeg_bytes):
    emb = get_embedder("vertex", api_endpoint=auto_emulator.url, retry="none")
    served = emb.get_embeddings(image=Image(jpeg_bytes), contextual_text="a red square", dimension=512)
    direct = local.get_embeddings(image=Image(jpeg_bytes), contextual_text="a red square", dimension=512)
    assert auto_emulator.backend == local.backend
    np.testing.assert_allclose(served.image_embedding, direct.image_embedding, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served.text_embedding, direct.text_embedding, rtol=1e-5, atol=1e-6)


def test_gemini_dimensions_beyond_the_local_models_keep_its_similarities(auto_emulator, local, jpeg_bytes, png_bytes):
    # 3072 is above anything the local model offers: its 1408-d vectors are zero-padded,
    # which leaves every cosine similarity as it was.
    gemini = get_embedder("gemini", base_url=auto_emulator.url, retry="none")
    a = gemini.get_embeddings(image=Image(jpeg_bytes), dimension=3072).image_embedding
    b = gemini.get_embeddings(image=Image(png_bytes), dimension=3072).image_embedding
    la = local.get_embeddings(image=Image(jpeg_bytes), dimension=1408).image_embedding
    lb = local.get_embeddings(image=Image(png_bytes), dimension=1408).image_embedding
    assert len(a) == 3072
    assert float(np.dot(a, b)) == pytest.approx(float(np.dot(la, lb)), abs=1e-5)
