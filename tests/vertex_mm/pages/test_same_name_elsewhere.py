"""Page ids come from file names, so ``2023/report.pdf`` and ``2024/report.pdf`` share them. Growing
an index with the second must not take it for the first ("already there", exit 0) nor mix their
pages under one document: every retriever refuses it, naming both files. A recorded file that no
longer exists (the folder moved) still counts as the same document, as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from page_fixtures import PDF_FIXTURE

from vertex_mm.cli import main
from vertex_mm.errors import InputError
from vertex_mm.pages import expand_sources
from vertex_mm.pages.content_retriever import ContentPageRetriever, load_content_retriever
from vertex_mm.testing.hashed import HashedEmbedder


def _blank_pdf(path: Path, pages: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(200, 300)
    doc.save(str(path))
    doc.close()
    return path


def test_content_retriever_refuses_another_file_of_the_same_name_and_skips_a_moved_one(tmp_path: Path) -> None:
    old = _blank_pdf(tmp_path / "2023" / "report.pdf", 2)
    _blank_pdf(tmp_path / "2024" / "report.pdf", 3)
    emb = HashedEmbedder()
    ContentPageRetriever(emb, dimension=128).index(expand_sources([tmp_path / "2023"]), save_to=tmp_path / "idx")
    grown = load_content_retriever(tmp_path / "idx", emb)
    with pytest.raises(InputError, match=r"page id 'report#1' of .*2024/report.pdf is already in the index from "
                                         r"another file, .*2023/report.pdf"):
        grown.index(expand_sources([tmp_path / "2024"]), save_to=tmp_path / "idx")
    assert load_content_retriever(tmp_path / "idx", emb).page_ids == ["report#1", "report#2"]  # nothing mixed in

    moved = tmp_path / "moved" / "report.pdf"
    moved.parent.mkdir()
    shutil.move(old, moved)  # the recorded file is gone: the same document, skipped as before
    stats = load_content_retriever(tmp_path / "idx", emb).index(expand_sources([moved]), save_to=tmp_path / "idx")
    assert stats.pages == 0


def test_cli_late_interaction_update_refuses_another_file_of_the_same_name(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    _blank_pdf(tmp_path / "2023" / "report.pdf", 2)
    _blank_pdf(tmp_path / "2024" / "report.pdf", 3)
    common = ["--index", str(tmp_path / "idx"), "--embedder", "regions", "--dpi", "36"]
    assert main(["pages", "index", str(tmp_path / "2023"), *common]) == 0
    capsys.readouterr()
    assert main(["pages", "index", str(tmp_path / "2024"), *common, "--update"]) == 2
    err = capsys.readouterr().err
    assert "document 'report' of" in err and "2024/report.pdf is already in the index from another file" in err
    assert main(["pages", "index", str(tmp_path / "2023"), *common, "--update"]) == 0  # the same file: skipped
    assert "2 already there" in capsys.readouterr().out


def test_ocr_fused_update_refuses_another_file_of_the_same_name(tmp_path: Path) -> None:
    pytest.importorskip("local_backend.pages")
    from local_backend.pages import OcrAssistedPageRetriever

    a, b = tmp_path / "a" / "zoo.pdf", tmp_path / "b" / "zoo.pdf"
    for copy in (a, b):  # the same bytes in two files are still two files
        copy.parent.mkdir()
        shutil.copy(PDF_FIXTURE / "corpus" / "zoo-design.pdf", copy)
    r = OcrAssistedPageRetriever(ocr_workers=1)
    r.index(expand_sources([a]))
    with pytest.raises(InputError, match=r"page id 'zoo#1' of .*b/zoo.pdf is already in the index from another file"):
        r.update(expand_sources([b]))
    assert r.update(expand_sources([a])).skipped == 2
