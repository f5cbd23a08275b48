"""``vertex-mm pages index`` into a folder that already holds an index never silently destroys it:
another kind is refused, the same kind needs ``--update``, and an ocr-fused ``--update`` fuses the
pages it holds with the new ones (only the new ones are read)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from page_fixtures import PDF_FIXTURE, one_page_pdf, private_cache, tesseract

from vertex_mm.cli import main

pytest.importorskip("local_backend.pages")
__all__ = ["private_cache", "tesseract"]  # fixtures

CORPUS = PDF_FIXTURE / "corpus"


def _index(*args: str) -> int:
    return main(["pages", "index", *args, "--workers", "1"])


def _hits(idx, query: str, capsys, k: int = 30) -> list[dict]:
    assert main(["pages", "search", "--index", str(idx), query, "-k", str(k), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["hits"]


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_ocr_fused_refuses_an_existing_index_without_update_and_grows_with_it(tmp_path, capsys):
    idx = tmp_path / "idx"
    assert _index(str(CORPUS / "zoo-design.pdf"), str(CORPUS / "effects-hex.pdf"), "--index", str(idx)) == 0
    capsys.readouterr()
    manifest = (idx / "manifest.json").read_bytes()
    assert _index(str(CORPUS / "zoo-quickref.pdf"), "--index", str(idx)) == 2
    err = capsys.readouterr().err
    assert f"{idx} already holds an ocr-fused page index of 3 pages; pass --update" in err
    assert (idx / "manifest.json").read_bytes() == manifest  # untouched

    assert _index(str(CORPUS / "zoo-quickref.pdf"), str(CORPUS / "zoo-design.pdf"), "--index", str(idx), "--update") == 0
    out = capsys.readouterr().out
    assert "indexed zoo-quickref:" in out and "indexed zoo-design" not in out  # held pages are not read again
    n_quickref = int(out.split("indexed zoo-quickref: ")[1].split()[0])
    assert f"({3 + n_quickref} pages in the index, 2 already there (--replace reads them again))" in out
    ids = {h["page_id"] for h in _hits(idx, "zoo design", capsys)}
    assert {"zoo-design#1", "zoo-design#2", "effects-hex#1", "zoo-quickref#1"} <= ids and len(ids) == 3 + n_quickref


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_an_ocr_fused_update_scores_as_the_index_built_whole(tmp_path, capsys):
    from vertex_mm.registry import load_page_retriever

    whole, grown = tmp_path / "whole", tmp_path / "grown"
    assert _index(str(CORPUS / "zoo-design.pdf"), str(CORPUS / "effects-hex.pdf"), "--index", str(whole)) == 0
    assert _index(str(CORPUS / "zoo-design.pdf"), "--index", str(grown)) == 0
    assert _index(str(CORPUS / "effects-hex.pdf"), "--index", str(grown), "--update") == 0
    capsys.readouterr()
    assert _index(str(CORPUS / "zoo-design.pdf"), "--index", str(grown), "--update", "--replace") == 0
    out = capsys.readouterr().out
    assert "indexed zoo-design: 2 pages" in out and "(3 pages in the index)" in out  # read again, not twice
    a, b = load_page_retriever(whole), load_page_retriever(grown)
    queries = ["hexagon logo", "experimental design of a zoo study", "effects plot"]
    order = [b.page_ids.index(p) for p in a.page_ids]
    assert sorted(a.page_ids) == sorted(b.page_ids)
    for name, scores in a.component_scores(queries).items():
        np.testing.assert_allclose(b.component_scores(queries)[name][:, order], scores, atol=1e-5, err_msg=name)


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_replacing_a_file_that_shrank_drops_its_old_pages(tmp_path, capsys):
    corpus, idx = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    shutil.copy(CORPUS / "zoo-design.pdf", corpus / "zoo-design.pdf")
    shutil.copy(CORPUS / "effects-hex.pdf", corpus / "effects-hex.pdf")
    assert _index(str(corpus), "--index", str(idx)) == 0
    one_page_pdf(CORPUS / "zoo-design.pdf", 1, corpus / "zoo-design.pdf")  # the file now has 1 page, not 2
    capsys.readouterr()
    assert _index(str(corpus / "zoo-design.pdf"), "--index", str(idx), "--update", "--replace") == 0
    assert "(2 pages in the index)" in capsys.readouterr().out
    assert {h["page_id"] for h in _hits(idx, "zoo design", capsys)} == {"zoo-design#1", "effects-hex#1"}


@pytest.mark.usefixtures("tesseract", "private_cache")
def test_another_kind_of_index_is_refused_and_kept(tmp_path, capsys):
    from vertex_mm.index import FlatIndex
    from vertex_mm.results import EmbeddingSpace

    photos = tmp_path / "photos.idx"
    FlatIndex(EmbeddingSpace("test", "clip", 4)).save(photos)
    before = (photos / "manifest.json").read_bytes()
    assert _index(str(CORPUS / "zoo-design.pdf"), "--index", str(photos), "--update") == 2
    assert "holds a 'flat' index, not a page index; choose another --index" in capsys.readouterr().err
    assert (photos / "manifest.json").read_bytes() == before


@pytest.mark.slow
@pytest.mark.usefixtures("tesseract", "private_cache")
def test_dense_late_chunking_is_kept_by_the_index_and_refused_where_it_does_not_apply(tmp_path, capsys):
    from vertex_mm.registry import load_page_retriever

    idx = tmp_path / "idx"
    assert _index(str(CORPUS / "zoo-design.pdf"), "--index", str(idx), "--dense-late-chunking") == 0
    assert load_page_retriever(idx).dense_late_chunking  # type: ignore[attr-defined]
    capsys.readouterr()
    ids = {h["page_id"] for h in _hits(idx, "zoo design", capsys, k=3)}
    assert "zoo-design#1" in ids
    assert _index(str(CORPUS / "effects-hex.pdf"), "--index", str(idx), "--update") == 0  # the index keeps its choice
    assert load_page_retriever(idx).dense_late_chunking  # type: ignore[attr-defined]
    plain = tmp_path / "plain"
    assert _index(str(CORPUS / "zoo-design.pdf"), "--index", str(plain)) == 0
    capsys.readouterr()
    assert _index(str(CORPUS / "effects-hex.pdf"), "--index", str(plain), "--update", "--dense-late-chunking") == 2
    assert f"--dense-late-chunking True: {plain} was built with False, which it keeps" in capsys.readouterr().err
    assert main(["pages", "index", str(CORPUS / "zoo-design.pdf"), "--index", str(tmp_path / "li"), "--embedder", "local",
                 "--dense-late-chunking"]) == 2
    assert "--dense-late-chunking applies to ocr-fused page indexes only" in capsys.readouterr().err
