"""``vertex-mm pages index`` with bad input: an unreadable file or page is listed, the rest is
indexed, and the exit status says some pages were not (1); a corpus without a word indexes."""

from __future__ import annotations

import json
import shutil

import pytest
from page_fixtures import PDF_FIXTURE, private_cache, tesseract

from vertex_mm.cli import main

pytest.importorskip("local_backend.pages")
__all__ = ["private_cache", "tesseract"]  # fixtures


@pytest.fixture
def mixed(tmp_path):
    """zoo-design.pdf (2 readable pages), a text file named .pdf, an empty .pdf, and PDF bytes named .png."""
    folder = tmp_path / "pdfs"
    folder.mkdir()
    shutil.copy(PDF_FIXTURE / "corpus" / "zoo-design.pdf", folder)
    (folder / "notapdf.pdf").write_text("hello\n")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "scan2.png").write_bytes(b"%PDF-1.4 garbage")
    return folder



@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_ocr_fused_lists_unreadable_files_and_pages_indexes_the_rest_and_exits_1(mixed, tmp_path, capsys):
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(mixed), "--index", str(idx), "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "indexed 2 pages with ocr-fused" in out and "(2 pages in the index)" in out
    for name in (f"{mixed / 'notapdf.pdf'}: ", f"{mixed / 'empty.pdf'}: ", "scan2: "):
        assert f"  unreadable: {name}" in out
    assert main(["pages", "search", "--index", str(idx), "zoo design", "-k", "10", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert sorted(h["page_id"] for h in hits) == ["zoo-design#1", "zoo-design#2"]  # never the unreadable page


@pytest.mark.slow
def test_late_interaction_lists_unreadable_files_and_pages_indexes_the_rest_and_exits_1(mixed, tmp_path, capsys):
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(mixed), "--index", str(idx), "--embedder", "regions", "--dpi", "36"]) == 1
    out = capsys.readouterr().out
    assert "indexed zoo-design: 2 pages" in out and "(2 pages in the index)" in out
    assert out.count("  unreadable: ") == 3 and "  unreadable: scan2: " in out


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_a_figure_only_page_without_a_word_indexes_and_searches(tmp_path, capsys):
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus" / "effects-hex.pdf"), "--index", str(idx),
                 "--workers", "1"]) == 0
    assert "(1 pages in the index)" in capsys.readouterr().out
    assert main(["pages", "search", "--index", str(idx), "hexagon logo", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [h["page_id"] for h in hits] == ["effects-hex#1"] and hits[0]["components"]["lexical"] == 0.0
    for flags, message in ((["--mode", "binary"], "--mode applies to late interaction page indexes only, not to an ocr-fused"),
                           (["--candidates", "-5"], "--candidates applies to late interaction page indexes only"),
                           (["-k", "0"], "-k must be at least 1, got 0")):
        assert main(["pages", "search", "--index", str(idx), "hexagon logo", *flags]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--dimension", "768"], "--dimension applies to gemini page indexes only, not to ocr-fused ones"),
    (["--pages-per-vector", "2", "--embedder", "regions"], "--pages-per-vector applies to gemini page indexes only"),
    (["--dpi", "72"], "--dpi applies to late interaction page indexes only, not to ocr-fused ones"),
    (["--workers", "2", "--embedder", "gemini"], "--workers applies to ocr-fused page indexes only, not to gemini ones"),
    (["--project", "p"], "--project applies to gemini page indexes only"),
])
def test_a_flag_for_another_retriever_is_refused_not_ignored(tmp_path, capsys, flags, message):
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus" / "effects-hex.pdf"), "--index", str(idx), *flags]) == 2
    assert message in capsys.readouterr().err and not idx.exists()


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_nothing_readable_writes_no_index(tmp_path, capsys):
    # as the README says: an empty index would only make the rerun ask for --update
    (tmp_path / "bad.png").write_text("not an image\n")
    idx = tmp_path / "idx"
    assert main(["pages", "index", str(tmp_path / "bad.png"), "--index", str(idx), "--workers", "1"]) == 1
    assert f"no index was written to {idx}: not one page was read" in capsys.readouterr().out
    assert not idx.exists()
