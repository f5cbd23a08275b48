"""Fixtures for the emulator's Cloud Storage and batch-job tests: an in-memory storage
emulator with a bucket, a vertex-mm emulator that reads from it, and a google-genai client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vertex_mm.emulator import EmulatorServer, run_emulator
from vertex_mm.gcs import EMULATOR_HOST_VAR
from vertex_mm.testing.storage import StorageEmulator

BUCKET = "bkt"


@pytest.fixture(scope="session")
def storage_server() -> Iterator[StorageEmulator]:
    with StorageEmulator() as server:
        yield server


@pytest.fixture
def gcs(storage_server: StorageEmulator, monkeypatch: pytest.MonkeyPatch) -> StorageEmulator:
    """An empty storage emulator with bucket ``bkt``, named by STORAGE_EMULATOR_HOST."""
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


def make_genai_client(url: str, *, api_version: str | None = None) -> Any:
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    return genai.Client(
        vertexai=True, project="test-project", location="global",
        # genai refuses AnonymousCredentials on Vertex; the emulator never checks the token.
        credentials=google.oauth2.credentials.Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=url, api_version=api_version),
    )


@pytest.fixture
def genai_for() -> Iterator[Callable[..., Any]]:
    """``genai_for(url, api_version=None)``: a google-genai Vertex client of an emulator,
    closed after the test."""
    clients: list[Any] = []

    def make(url: str, *, api_version: str | None = None) -> Any:
        clients.append(make_genai_client(url, api_version=api_version))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def genai(gcs_emulator: EmulatorServer, genai_for: Callable[..., Any]) -> Any:
    return genai_for(gcs_emulator.url)
