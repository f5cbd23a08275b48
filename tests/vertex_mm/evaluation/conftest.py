"""Fixtures for the evaluation tests: folders of real photos, query files and the hashed backend.

Fast tests embed with :class:`~vertex_mm.testing.hashed.HashedEmbedder`, whose vectors mean nothing
but are exact: a byte-identical copy of a photo finds that photo first, anything else ranks
at random. That pins down the plumbing; slow tests check quality with the real local model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vertex_mm import registry
from vertex_mm.sample_data import sample_photos
from vertex_mm.testing import HashedEmbedder


@pytest.fixture
def hashed() -> HashedEmbedder:
    return HashedEmbedder()


@pytest.fixture
def hashed_backend(monkeypatch: pytest.MonkeyPatch) -> str:
    """``--backend hashed`` for the CLI, for this test only."""
    monkeypatch.setitem(registry._BACKENDS, "hashed", "vertex_mm.testing.hashed:HashedEmbedder")
    return "hashed"


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """Five real sample photos, one of them in a subfolder (its id is ``pets/cat.jpg``)."""
    folder = tmp_path / "photos"
    (folder / "pets").mkdir(parents=True)
    by_name = {p.name: p for p in sample_photos()}
    for name in ("astronaut.jpg", "coffee_cup.jpg", "coins.jpg", "rocket.jpg"):
        shutil.copy(by_name[name], folder / name)
    shutil.copy(by_name["cat.jpg"], folder / "pets" / "cat.jpg")
    return folder


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """``write_jsonl(rows, name="queries.jsonl", folder=tmp_path)``: rows as a JSONL file."""

    def write(rows: list[Any], name: str = "queries.jsonl", folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
