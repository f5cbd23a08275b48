"""Fixtures the CLI tests share."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vertex_mm import registry
from vertex_mm.sample_data import sample_photos
from vertex_mm.testing.hashed import HashedEmbedder


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder of two real sample photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sample_photos()[:2]:
        shutil.copy(p, folder / p.name)
    return folder


@pytest.fixture
def backend_options(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[dict[str, Any]]]:
    """``record(name)``: backend ``name`` stands in as a HashedEmbedder (no model, no client)
    and the returned list receives the options each one was built with."""

    def record(name: str) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []

        def factory(**options: Any) -> HashedEmbedder:
            seen.append(options)
            return HashedEmbedder()

        monkeypatch.setitem(registry._BACKENDS, name, factory)
        return seen

    return record
