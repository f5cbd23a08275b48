"""Fixtures for the vertex_mm tests: a running emulator, real small media files, a folder of
real JPEGs, the fake clock of the batch engine tests, and Cloud Storage (a storage emulator).

The emulator runs in-process (uvicorn in a thread, on a free port of 127.0.0.1) with hashed
vectors unless a test asks otherwise, so every test starts it in milliseconds.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from batch_doubles import FakeClock
from factories import image_bytes, mp4_bytes
from genai_clients import genai_client_for

from vertex_mm.emulator import EmulatorServer, run_emulator
from vertex_mm.gcs import EMULATOR_HOST_VAR
from vertex_mm.testing import HashedEmbedder
from vertex_mm.testing.storage import StorageEmulator


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with run_emulator(backend="hashed") as emu:
        yield emu


@pytest.fixture
def genai_client(emulator: EmulatorServer) -> Iterator[Any]:
    """The unmodified google-genai client talking to the ``emulator``."""
    client = genai_client_for(emulator.url)
    yield client
    client.close()


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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def image_folder(tmp_path: pathlib.Path) -> Callable[[int], pathlib.Path]:
    """A folder of ``n`` distinct real JPEGs in two sub-folders, plus files that are not images."""

    def make(n: int, name: str = "images") -> pathlib.Path:
        root = tmp_path / name
        for i in range(n):
            sub = root / ("a" if i % 2 == 0 else "b")
            sub.mkdir(parents=True, exist_ok=True)
            color = (i * 37 % 256, i * 91 % 256, (i * 13 + 50) % 256)
            (sub / f"img_{i:04d}.jpg").write_bytes(image_bytes("JPEG", size=(32 + i % 7, 24), color=color))
        (root / "notes.txt").write_text("not an image")
        (root / ".hidden.jpg").write_bytes(b"ignored")
        return root

    return make


# --- Cloud Storage: one in-memory storage emulator per session, emptied for each test ---------

BUCKET = "bkt"


@pytest.fixture(scope="session")
def storage_server() -> Iterator[StorageEmulator]:
    with StorageEmulator() as server:
        yield server


@pytest.fixture
def gcs(storage_server: StorageEmulator, monkeypatch: pytest.MonkeyPatch) -> StorageEmulator:
    """An empty storage emulator with bucket ``bkt``, named by STORAGE_EMULATOR_HOST (which the
    CLI's subprocesses inherit)."""
    monkeypatch.setenv(EMULATOR_HOST_VAR, storage_server.url)
    return storage_server.reset([BUCKET])


@pytest.fixture
def bucket(gcs: StorageEmulator) -> Any:
    return gcs.client().bucket(BUCKET)


@pytest.fixture
def gcs_emulator(gcs: StorageEmulator) -> Iterator[EmulatorServer]:
    """The emulator with Cloud Storage (hashed vectors), its batch jobs fast by default."""
    with run_emulator(backend="hashed", storage_client=gcs.client()) as emu:
        yield emu
