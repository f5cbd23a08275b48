"""``vertex-mm pages``: runs a user repeats. A run that indexes nothing leaves no index (so the
fixed rerun needs no ``--update``); a bad ``--dpi`` is refused before anything is written; a
file named twice is indexed once; ``--update --replace`` refuses another file of a held name;
a blank query is refused by every retriever."""

from __future__ import annotations

import json
import shutil

import pytest
from page_fixtures import PDF_FIXTURE, private_cache, tesseract

from vertex_mm.cli import main

pytest.importorskip("local_backend.pages")
__all__ = ["private_cache", "tesseract"]  # fixtures

ZOO = PDF_FIXTURE / "corpus" / "zoo-design.pdf"  # 2 pages


def _stored(idx) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (idx / "pages.jsonl").read_text().splitlines()]
    return [(r["page_id"], r["source"]) for r in rows]


@pytest.mark.parametrize("embedder", [pytest.param("ocr-fused", marks=pytest.mark.slow), "regions"])
def test_a_run_that_indexes_nothing_writes_no_index_and_the_rerun_is_not_refused(tmp_path, capsys, embedder):
    if embedder == "regions":
        pytest.importorskip("torch")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")  # opened only when read
    idx = tmp_path / "idx"
    command = ["pages", "index", str(tmp_path / "in"), "--index", str(idx), "--embedder", embedder]
    for _ in range(2):  # the same command again: the same answer, not "already holds ... pass --update"
        assert main(command) == 1
        out = capsys.readouterr().out
        assert f"no index was written to {idx}: not one page was" in out and "unreadable: scan:" in out
        assert not idx.exists()


@pytest.mark.parametrize("dpi", ["0", "nan", "inf", "-3"])
def test_a_bad_dpi_is_refused_before_an_index_is_written(tmp_path, capsys, dpi):
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(ZOO), "--index", str(idx), "--embedder", "regions", "--dpi", dpi]) == 2
    assert f"--dpi must be a positive number, got {float(dpi)}" in capsys.readouterr().err
    assert not idx.exists()


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_ocr_fused_indexes_a_file_named_twice_once_and_refuses_blank_queries_and_another_file_on_replace(tmp_path, capsys):
    docs = tmp_path / "2023"
    docs.mkdir()
    shutil.copy(ZOO, docs / "zoo.pdf")
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(docs), str(docs / "zoo.pdf"), "--index", str(idx), "--workers", "1"]) == 0
    assert "indexed zoo: 2 pages" in capsys.readouterr().out
    held = _stored(idx)
    assert [p for p, _ in held] == ["zoo#1", "zoo#2"]

    for blank in ("", "   "):
        assert main(["pages", "search", "--index", str(idx), blank]) == 2
        assert "query must be a non-empty string, got" in capsys.readouterr().err

    other = tmp_path / "2024"
    other.mkdir()
    shutil.copy(PDF_FIXTURE / "corpus" / "effects-hex.pdf", other / "zoo.pdf")
    assert main(["pages", "index", str(other), "--index", str(idx), "--update", "--replace", "--workers", "1"]) == 2
    assert "page id 'zoo#1' of" in capsys.readouterr().err
    assert _stored(idx) == held  # the 2023 file's pages are kept
    assert main(["pages", "index", str(docs), "--index", str(idx), "--update", "--replace", "--workers", "1"]) == 0
