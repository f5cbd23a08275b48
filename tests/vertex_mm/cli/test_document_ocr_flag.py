"""``--document-ocr``: gemini-embedding-2's document OCR from the command line, refused for the
backends that have none."""

from __future__ import annotations

from typing import Any

import pytest

from vertex_mm.cli import main


@pytest.fixture
def gemini_options(backend_options) -> list[dict[str, Any]]:
    """Stands in for the gemini backend: records the options it was built with."""
    return backend_options("gemini")


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
