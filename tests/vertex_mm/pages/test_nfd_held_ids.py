"""Indexes built before document ids were NFC hold the id the file system gave: NFD for a name
written by macOS or many zip tools ("re\u0301sume\u0301"). Growing such an index with the same file must
take its pages as held (nothing read, embedded or billed again, no second copy), ``--replace``
must read it again under its NFC id without keeping the old one, and the index must still load,
for each of the three retrievers."""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Iterable
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

NFC = unicodedata.normalize("NFC", "résumé")
NFD = unicodedata.normalize("NFD", "résumé")


def _as_built_before(refs: Iterable[PageRef]) -> list[PageRef]:
    """Refs as the code before NFC ids made them: the file name's own form, NFD here."""
    refs = list(refs)
    for r in refs:
        object.__setattr__(r, "doc_id", unicodedata.normalize("NFD", r.path.stem))
    assert all(r.doc_id == NFD for r in refs)
    return refs


def _blank_pdf(path: Path, pages: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(200, 300)
    doc.save(str(path))
    doc.close()
    return path


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


def test_gemini_update_takes_a_held_nfd_document_as_held_and_replace_renames_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _blank_pdf(docs / f"{NFD}.pdf", 2)
    idx = tmp_path / "idx"
    ContentPageRetriever(HashedEmbedder(), dimension=128).index(_as_built_before(expand_sources([docs])), save_to=idx)
    assert load_content_retriever(idx, HashedEmbedder()).page_ids == [f"{NFD}#1", f"{NFD}#2"]

    emb = _Counting(HashedEmbedder())
    stats = load_content_retriever(idx, emb).index(expand_sources([docs]), save_to=idx)
    assert (stats.pages, stats.skipped, emb.sent) == (0, 2, 0)  # nothing billed again
    assert load_content_retriever(idx, HashedEmbedder()).page_ids == [f"{NFD}#1", f"{NFD}#2"]  # no second copy

    stats = load_content_retriever(idx, HashedEmbedder(), replace=True).index(expand_sources([docs]), save_to=idx)
    assert stats.pages == 2
    saved = load_content_retriever(idx, HashedEmbedder())
    assert saved.page_ids == [f"{NFC}#1", f"{NFC}#2"] and len(saved.flat) == 2  # read again, the NFD rows gone


def test_ocr_fused_loads_an_index_of_nfd_ids_and_update_skips_its_pages(tmp_path: Path) -> None:
    from local_backend.pages.retriever import OcrAssistedPageRetriever

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(PDF_FIXTURE / "corpus" / "zoo-design.pdf", docs / f"{NFD}.pdf")
    idx = tmp_path / "idx"
    OcrAssistedPageRetriever(components=("lexical",)).index(_as_built_before(expand_sources([docs])), save_to=idx)
    rows = (idx / "pages.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["doc_id"] for r in rows] == [NFD, NFD]  # written as the old code wrote it

    loaded = OcrAssistedPageRetriever.load(idx)  # was refused as damaged: "page 'résumé#1' is stored as 'résumé#1'"
    assert loaded.page_ids == [f"{NFC}#1", f"{NFC}#2"]
    stats = loaded.update(expand_sources([docs]), save_to=idx)
    assert (stats.pages, stats.skipped) == (0, 2)
    stats = loaded.update(expand_sources([docs]), replace=True, save_to=idx)
    assert stats.pages == 2
    assert OcrAssistedPageRetriever.load(idx).page_ids == [f"{NFC}#1", f"{NFC}#2"]


def test_late_interaction_update_skips_a_held_nfd_document_and_replace_keeps_one_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("torch")
    from vertex_mm.index.multivector import MultiVectorIndex
    from vertex_mm.registry import get_page_retriever

    docs = tmp_path / "docs"
    _blank_pdf(docs / f"{NFD}.pdf", 2)
    idx = tmp_path / "idx"
    get_page_retriever("regions", dpi=36).index(_as_built_before(expand_sources([docs])), save_to=idx)
    assert MultiVectorIndex.load(idx).doc_ids() == [NFD]

    common = ["--index", str(idx), "--embedder", "regions", "--dpi", "36", "--update"]
    assert main(["pages", "index", str(docs), *common]) == 0
    out = capsys.readouterr().out
    assert "indexed 0 pages with regions" in out and "(2 pages in the index, 2 already there" in out
    assert MultiVectorIndex.load(idx).doc_ids() == [NFD]

    assert main(["pages", "index", str(docs), *common, "--replace"]) == 0
    assert "(2 pages in the index)" in capsys.readouterr().out
    grown = MultiVectorIndex.load(idx)
    assert grown.doc_ids() == [NFC] and grown.page_ids() == [f"{NFC}#1", f"{NFC}#2"]


def test_late_interaction_api_refuses_a_document_held_under_its_nfd_id(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from vertex_mm.registry import get_page_retriever

    pdf = _blank_pdf(tmp_path / f"{NFD}.pdf", 1)
    retriever = get_page_retriever("regions", dpi=36)
    retriever.index(_as_built_before(expand_sources([pdf])))
    with pytest.raises(InputError, match="is already indexed"):
        retriever.index(expand_sources([pdf]))
    assert retriever.page_ids == [f"{NFD}#1"]
