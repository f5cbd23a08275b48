"""Growing a gemini page index: a page is embedded (and billed) once, whatever the sources say
twice; a document that grew gets vectors for its new pages only; ``--replace`` reads the same
file again, never another of its name; ``--update`` keeps the dimension and chunking the index
was built with without being told them again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from page_fixtures import PDF_FIXTURE

from vertex_mm.cli import main
from vertex_mm.errors import InputError
from vertex_mm.pages import PageRef, expand_sources
from vertex_mm.pages.content_retriever import ContentPageRetriever, load_content_retriever
from vertex_mm.testing.hashed import HashedEmbedder


class _Counting:
    """The embedder, counting the contents it is sent (a boundary double: what is billed)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sent = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_contents(self, contents: Any, **kwargs: Any) -> Any:
        contents = list(contents)
        self.sent += len(contents)
        return self.inner.embed_contents(contents, **kwargs)


def _blank_pdf(path: Path, pages: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(200, 300)
    doc.save(str(path))
    doc.close()
    return path


def test_a_page_given_twice_is_embedded_once(tmp_path: Path) -> None:
    pdf = _blank_pdf(tmp_path / "a.pdf", 2)
    emb = _Counting(HashedEmbedder())
    r = ContentPageRetriever(emb, dimension=128)
    stats = r.index([PageRef(pdf, 1), PageRef(pdf, 2), PageRef(pdf, 1), PageRef(pdf, 2)], save_to=tmp_path / "idx")
    assert stats.pages == 2 and not stats.errors and emb.sent == 2
    assert load_content_retriever(tmp_path / "idx", HashedEmbedder()).page_ids == ["a#1", "a#2"]


def test_a_document_that_grew_gets_vectors_for_its_new_pages_only(tmp_path: Path) -> None:
    pdf = _blank_pdf(tmp_path / "grow.pdf", 2)
    idx = tmp_path / "idx"
    ContentPageRetriever(HashedEmbedder(), dimension=128, pages_per_vector=3).index(expand_sources([pdf]), save_to=idx)
    _blank_pdf(pdf, 5)
    emb = _Counting(HashedEmbedder())
    grown = load_content_retriever(idx, emb)
    stats = grown.index(expand_sources([pdf]), save_to=idx)
    assert stats.pages == 3 and stats.skipped == 2 and emb.sent == 1  # pages 3-5 as one chunk; 1-2 not paid again
    saved = load_content_retriever(idx, HashedEmbedder())
    assert saved.page_ids == ["grow#1", "grow#2", "grow#3", "grow#4", "grow#5"]
    assert sorted(saved.flat.ids) == ["grow#1-2", "grow#3-5"]
    assert saved.score(["page"]).shape == (1, 5)  # a column per page


def test_replace_reads_the_same_file_again_but_refuses_another_of_its_name(tmp_path: Path) -> None:
    old = _blank_pdf(tmp_path / "2023" / "report.pdf", 2)
    _blank_pdf(tmp_path / "2024" / "report.pdf", 3)
    idx = tmp_path / "idx"
    ContentPageRetriever(HashedEmbedder(), dimension=128).index(expand_sources([old]), save_to=idx)
    again = load_content_retriever(idx, HashedEmbedder(), replace=True)
    with pytest.raises(InputError, match=r"page id 'report#1' of .*2024/report.pdf is already in the index from another "
                                         r"file, .*2023/report.pdf"):
        again.index(expand_sources([tmp_path / "2024"]), save_to=idx)
    saved = load_content_retriever(idx, HashedEmbedder())
    assert [saved.flat.metadata(i)["source"] for i in saved.flat.ids] == [str(old)] * 2
    assert again.index(expand_sources([old]), save_to=idx).pages == 2  # the same file: read again


@pytest.mark.parametrize("built_with", [["--dimension", "256"], ["--pages-per-vector", "3"]])
def test_cli_update_keeps_how_the_index_was_built_without_being_told(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], built_with: list[str],
) -> None:
    idx = tmp_path / "idx"
    endpoint = ["--embedder", "gemini", "--api-endpoint", emulator.url]
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus" / "zoo-design.pdf"), "--index", str(idx), *endpoint,
                 *built_with]) == 0
    manifest = json.loads((idx / "manifest.json").read_text())
    capsys.readouterr()
    assert main(["pages", "index", str(PDF_FIXTURE / "corpus" / "effects-hex.pdf"), "--index", str(idx), *endpoint,
                 "--update"]) == 0, capsys.readouterr().err
    assert "(3 pages in the index)" in capsys.readouterr().out
    grown = json.loads((idx / "manifest.json").read_text())
    assert (grown["dimension"], grown["config"]["pages_per_vector"]) == (manifest["dimension"],
                                                                           manifest["config"]["pages_per_vector"])
