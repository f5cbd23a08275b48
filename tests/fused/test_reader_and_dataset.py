"""Reading mixed page sources, and the BEIR / manifest data set loader (project fixture included)."""

from __future__ import annotations

import json

import pytest

from local_backend.pages_fused.dataset import load_dataset
from local_backend.pages_fused.ocr import OcrPool
from local_backend.pages_fused.reader import read_pages
from local_backend.pages_fused.sources import PageRef, expand_paths
from vertex_mm.errors import InputError

KINDS = {"table", "figure", "chart", "text"}


@pytest.mark.usefixtures("tesseract")
def test_text_layer_pages_skip_ocr_scans_are_ocrd_and_a_bad_file_does_not_stop_the_rest(tmp_path, pdfs, page_pdf, page_png):
    digital = page_pdf(pdfs / "rq.pdf", 7, tmp_path / "engel.pdf")
    scan = page_png(pdfs / "lmtest-intro.pdf", 3, tmp_path / "mandible.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    refs = expand_paths([digital, broken, scan])
    with OcrPool(2, cache_dir=tmp_path / "ocr") as pool:
        pages = list(read_pages(refs, pool))
    assert [p.ref.page_id for p in pages] == ["engel", "broken", "mandible"]
    engel, bad, mandible = pages
    assert engel.text.source == "text-layer" and engel.ocr_pages == 0 and engel.error is None
    assert "Engel" in engel.text.text and engel.text.figure_boxes and engel.crops
    assert bad.error is not None and "broken.png" in str(bad.error) and bad.text.words == []
    assert mandible.ocr_pages == 1 and "mandible" in mandible.text.text.lower()
    assert mandible.thumbnail is not None and max(mandible.thumbnail.size) <= 1024


def test_expand_paths_names_pages_of_multi_page_pdfs(pdfs):
    refs = expand_paths([pdfs / "lmtest-intro.pdf"])
    assert [r.page_id for r in refs] == [f"lmtest-intro-p0{i}" for i in range(1, 6)]
    assert refs[2] == PageRef("lmtest-intro-p03", pdfs / "lmtest-intro.pdf", 2)


def test_expand_paths_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        expand_paths([tmp_path / "nope.pdf"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a PDF or page image"):
        expand_paths([tmp_path / "notes.txt"])


def test_project_fixture_is_big_enough_labelled_and_split(fixture_dir):
    dev, test = load_dataset(fixture_dir, "dev"), load_dataset(fixture_dir, "test")
    assert len(test.pages) >= 60
    assert len(test.queries) >= 40 and len(test.query_ids) >= 40
    assert set(dev.query_ids).isdisjoint(test.query_ids)
    assert set(dev.query_ids) | set(test.query_ids) == set(test.queries)
    assert set(test.kinds.values()) == KINDS and set(test.kinds) == set(test.queries)
    visual = sum(test.kinds[q] in ("chart", "figure") for q in test.queries)
    assert visual > len(test.queries) / 2  # most queries are about figures and charts
    suffixes = {p.path.suffix for p in test.pages}
    assert suffixes == {".pdf", ".png"}  # born-digital pages and scans, mixed


def _beir(root, header="query-id\tcorpus-id\tscore"):
    (root / "corpus").mkdir(parents=True)
    (root / "qrels").mkdir()
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a chart", "kind": "chart"}) + "\n")
    (root / "qrels" / "test.tsv").write_text(f"{header}\nq1\tpage-a\t1\n")
    return root


def test_beir_folder_with_png_corpus_loads(tmp_path, pdfs, page_png):
    root = _beir(tmp_path / "ds")
    page_png(pdfs / "rq.pdf", 8, root / "corpus" / "page-a.png", dpi=50)
    ds = load_dataset(root)
    assert [p.page_id for p in ds.pages] == ["page-a"]
    assert ds.queries == {"q1": "a chart"} and ds.kinds == {"q1": "chart"} and ds.qrels == {"q1": {"page-a": 1}}


def test_beir_errors_name_the_file_and_what_is_wrong(tmp_path, pdfs, page_png):
    root = _beir(tmp_path / "bad", header="qid\tdoc\trel")
    page_png(pdfs / "rq.pdf", 8, root / "corpus" / "page-a.png", dpi=50)
    with pytest.raises(InputError, match="test.tsv: first line must be"):
        load_dataset(root)
    root2 = _beir(tmp_path / "missing-page")
    with pytest.raises(InputError, match="names pages not in the corpus"):
        load_dataset(root2)
    with pytest.raises(InputError, match="neither corpus/ nor manifest.jsonl"):
        load_dataset(tmp_path)
