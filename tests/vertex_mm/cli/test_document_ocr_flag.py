"""``--document-ocr``: gemini-embedding-2's document OCR from the command line, refused for the
backends that have none."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from vertex_mm import registry
from vertex_mm.cli import main
from vertex_mm.sample_data import sample_photos
from vertex_mm.testing.hashed import HashedEmbedder


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photos()[0], folder / sample_photos()[0].name)
    return folder


@pytest.fixture
def gemini_options(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stands in for the gemini backend (no client): records the options it was built with."""
    seen: list[dict[str, Any]] = []

    def factory(**options: Any) -> HashedEmbedder:
        seen.append(options)
        return HashedEmbedder()

    monkeypatch.setitem(registry._BACKENDS, "gemini", factory)
    return seen


@pytest.mark.parametrize(("flag", "expected"), [([], None), (["--document-ocr"], True)])
def test_embed_passes_document_ocr_to_the_gemini_backend(photo_dir, tmp_path, gemini_options, flag, expected) -> None:
    out = tmp_path / "o.jsonl"
    assert main(["embed", str(photo_dir), "--out", str(out), "--backend", "gemini", "--no-progress", *flag]) == 0
    assert gemini_options[0].get("document_ocr") == expected


@pytest.mark.parametrize("backend", ["vertex", "local"])
def test_document_ocr_is_refused_for_other_backends(photo_dir, tmp_path, capsys, backend) -> None:
    assert main(["embed", str(photo_dir), "--out", str(tmp_path / "o.jsonl"), "--backend", backend,
                 "--document-ocr"]) == 2
    assert f"--document-ocr applies to the gemini backend only, not {backend!r}" in capsys.readouterr().err
