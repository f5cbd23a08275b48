"""The gemini backend against the emulator, as the tests of this folder use it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vertex_mm import get_embedder


@pytest.fixture
def gemini(emulator: Any) -> Iterator[Any]:
    """A GeminiEmbedder of the emulator: no retries, no rate limit."""
    emb = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    yield emb
    emb.close()
