"""Fixtures for the batch-job CLI tests: a storage emulator (one per session, emptied for each
test) named by STORAGE_EMULATOR_HOST, which the command's subprocesses inherit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vertex_mm.gcs import EMULATOR_HOST_VAR
from vertex_mm.testing.storage import StorageEmulator


@pytest.fixture(scope="session")
def storage_server() -> Iterator[StorageEmulator]:
    with StorageEmulator() as server:
        yield server


@pytest.fixture
def gcs(storage_server: StorageEmulator, monkeypatch: pytest.MonkeyPatch) -> StorageEmulator:
    monkeypatch.setenv(EMULATOR_HOST_VAR, storage_server.url)
    return storage_server.reset(["bkt"])
