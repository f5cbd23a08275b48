"""Fixtures for the search web app: indexes of the shipped sample photos.

``hashed_photos`` uses HashedEmbedder (instant, meaningless vectors: an image finds only its own
bytes); ``local_photos`` uses the real offline joint model, for the tests that check meaning.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vertex_mm.index.build import index_images
from vertex_mm.sample_data import sample_photos, sample_photos_dir


@pytest.fixture(scope="session")
def hashed_photos():
    from vertex_mm.testing import HashedEmbedder

    embedder = HashedEmbedder()
    index, skipped = index_images(embedder, sample_photos(), root=sample_photos_dir(), dimension=128)
    assert not skipped
    return index, embedder


@pytest.fixture(scope="session")
def local_embedder():
    from vertex_mm import get_embedder
    from vertex_mm.errors import MissingDependencyError, WeightsNotFoundError

    try:
        return get_embedder("local")
    except (MissingDependencyError, WeightsNotFoundError) as exc:
        pytest.skip(f"the offline local model is not installed: {exc}")


@pytest.fixture(scope="session")
def local_photos(local_embedder):
    index, skipped = index_images(local_embedder, sample_photos(), root=sample_photos_dir())
    assert not skipped
    return index, local_embedder


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser screenshots go: $VERTEX_MM_TEST_ARTIFACTS, else ./artifacts (git-ignored)."""
    path = Path(os.environ.get("VERTEX_MM_TEST_ARTIFACTS", "artifacts")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
