"""Fixtures for the emulator tests: a running emulator, and real small media files.

The emulator runs in-process (uvicorn in a thread, on a free port of 127.0.0.1) with hashed
vectors unless a test asks otherwise, so every test starts it in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from factories import image_bytes, mp4_bytes

from vertex_mm.emulator import EmulatorServer, run_emulator
from vertex_mm.testing import HashedEmbedder


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with run_emulator(backend="hashed") as emu:
        yield emu


@pytest.fixture
def hashed() -> HashedEmbedder:
    """The embedder the ``emulator`` fixture serves, to compute the expected vectors."""
    return HashedEmbedder()


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    return image_bytes("PNG", size=(64, 48), color=(30, 160, 40))


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    return image_bytes("JPEG", size=(80, 60), color=(200, 30, 30))


@pytest.fixture(scope="session")
def mp4_10s() -> bytes:
    """A real 10-second H.264 MP4 (2 fps keeps it small and quick to encode)."""
    return mp4_bytes(seconds=10.0, fps=2, size=(32, 32))


@pytest.fixture
def vertexai_global_config() -> Iterator[None]:
    """``vertexai.init`` sets process-wide state; put it back after the test."""
    from google.cloud.aiplatform import initializer

    saved = dict(initializer.global_config.__dict__)
    yield
    initializer.global_config.__dict__.clear()
    initializer.global_config.__dict__.update(saved)
