"""The one BEIR-layout loader: a corpus/ folder of PDFs, a listed corpus (the project fixture's
manifest, with scan pages), and errors that name the file and what is wrong."""

from __future__ import annotations

import json
import shutil

import pytest
from page_fixtures import render_page

from vertex_mm.errors import InputError
from vertex_mm.pages import PageRef
from vertex_mm.pages.eval import load_dataset

KINDS = {"table", "figure", "chart", "text"}


def test_pdf_fixture_reads_in_beir_layout(fixture_pdfs):
    ds = load_dataset(fixture_pdfs)
    assert len(ds.queries) == 18 and len(ds.pages) == 25
    assert ds.qrels["q08"] == {"effects-hex#1": 1}
    assert ds.pages[0] == PageRef(fixture_pdfs / "corpus" / "effects-hex.pdf", 1)


def test_qrels_naming_unknown_pages_are_refused(tmp_path, fixture_pdfs):
    shutil.copytree(fixture_pdfs, tmp_path / "ds")
    with open(tmp_path / "ds" / "qrels" / "test.tsv", "a") as f:
        f.write("q01\tno-such-doc#3\t1\n")
    with pytest.raises(InputError, match="no-such-doc#3"):
        load_dataset(tmp_path / "ds")


def test_project_fixture_is_big_enough_labelled_split_and_mixes_scans(fixture_dir):
    dev, test = load_dataset(fixture_dir, "dev"), load_dataset(fixture_dir, "test")
    assert len(test.pages) >= 60
    assert len(test.queries) >= 40 and len(test.query_ids) >= 40
    assert set(dev.query_ids).isdisjoint(test.query_ids)
    assert set(dev.query_ids) | set(test.query_ids) == set(test.queries)
    assert set(test.kinds.values()) == KINDS and set(test.kinds) == set(test.queries)
    visual = sum(test.kinds[q] in ("chart", "figure") for q in test.queries)
    assert visual > len(test.queries) / 2  # most queries are about figures and charts
    scans = {p.page_id for p in test.pages if p.scan}
    assert len(scans) == 17 and "residual-shadings#5" in scans  # born-digital pages and scans, mixed
    assert all(p.page_id == f"{p.path.stem}#{p.page_number}" for p in test.pages)


def _beir(root, header="query-id\tcorpus-id\tscore"):
    (root / "corpus").mkdir(parents=True)
    (root / "qrels").mkdir()
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a chart", "kind": "chart"}) + "\n")
    (root / "qrels" / "test.tsv").write_text(f"{header}\nq1\tpage-a\t1\n")
    return root


def test_beir_folder_with_png_corpus_loads(tmp_path, pdfs):
    root = _beir(tmp_path / "ds")
    render_page(pdfs / "rq.pdf", 8, root / "corpus" / "page-a.png", dpi=50)
    ds = load_dataset(root)
    assert [p.page_id for p in ds.pages] == ["page-a"]
    assert ds.queries == {"q1": "a chart"} and ds.kinds == {"q1": "chart"} and ds.qrels == {"q1": {"page-a": 1}}


def test_a_listed_corpus_names_pages_scans_and_images(tmp_path, pdfs):
    root = tmp_path / "ds"
    (root / "qrels").mkdir(parents=True)
    shutil.copy(pdfs / "rq.pdf", root / "rq.pdf")
    render_page(pdfs / "rq.pdf", 8, root / "page-a.png", dpi=50)
    rows = [{"pdf": "rq.pdf", "page": 7}, {"corpus-id": "rq#8", "pdf": "rq.pdf", "page": 8, "form": "scan"},
            {"image": "page-a.png"}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "engel"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\trq#7\t1\nq1\tpage-a\t0\n")
    ds = load_dataset(root)
    assert [(p.page_id, p.scan) for p in ds.pages] == [("rq#7", False), ("rq#8", True), ("page-a", False)]
    assert ds.qrels == {"q1": {"rq#7": 1}}  # a score of 0 is not a judgement of relevance


def test_a_listed_corpus_id_must_be_the_page_id(tmp_path, pdfs):
    root = _beir(tmp_path / "ds")
    (root / "manifest.jsonl").write_text(json.dumps({"corpus-id": "rq-p07", "pdf": "x/rq.pdf", "page": 7}) + "\n")
    with pytest.raises(InputError, match="'rq-p07' is not the page's id 'rq#7'"):
        load_dataset(root)
    (root / "manifest.jsonl").write_text(json.dumps({"pdf": "x/rq.pdf", "page": 7, "form": "photo"}) + "\n")
    with pytest.raises(InputError, match="form must be 'pdf' or 'scan'"):
        load_dataset(root)


def test_two_documents_giving_one_page_id_or_qrels_without_a_relevant_page_are_refused(tmp_path, pdfs):
    # a/report.pdf and b/report.pdf both gave report#1: a hit on either page got the credit.
    root = tmp_path / "ds"
    (root / "qrels").mkdir(parents=True)
    for folder in ("a", "b"):
        (root / folder).mkdir()
        shutil.copy(pdfs / "rq.pdf", root / folder / "rq.pdf")
    rows = [{"pdf": "a/rq.pdf", "page": 7}, {"pdf": "b/rq.pdf", "page": 7}]
    (root / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "engel"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\trq#7\t1\n")
    with pytest.raises(InputError, match="both give page id 'rq#7'"):
        load_dataset(root)
    (root / "corpus.jsonl").write_text(json.dumps(rows[0]) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\trq#7\t0\n")
    with pytest.raises(InputError, match="judges no page relevant"):  # it printed ndcg5=0.000 and exited 0
        load_dataset(root)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\trq#7\t0.5\n")
    with pytest.raises(InputError, match="must be a whole number"):  # 0.5 was truncated to 0
        load_dataset(root)


def test_beir_errors_name_the_file_and_what_is_wrong(tmp_path, pdfs):
    root = _beir(tmp_path / "bad", header="qid\tdoc\trel")
    render_page(pdfs / "rq.pdf", 8, root / "corpus" / "page-a.png", dpi=50)
    with pytest.raises(InputError, match="test.tsv: first line must be"):
        load_dataset(root)
    root2 = _beir(tmp_path / "missing-page")
    with pytest.raises(InputError, match="names pages not in the corpus"):
        load_dataset(root2)
    with pytest.raises(InputError, match="neither corpus/ nor corpus.jsonl / manifest.jsonl"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="no such data set folder"):
        load_dataset(tmp_path / "nowhere")


@pytest.mark.parametrize(("line", "where", "match"), [
    ('{"_id": "q01", "text": null}', 1, "text must be a non-empty string, got None"),  # was the query "None"
    ('{"_id": "q01", "text": "  "}', 1, "text must be a non-empty string"),
    ('{"_id": "q01", "text": "another question"}', 2, "query id 'q01' was already given on line 1"),  # was replaced
])
def test_a_query_without_text_or_given_twice_is_refused_naming_the_line(tmp_path, fixture_pdfs, line, where, match):
    shutil.copytree(fixture_pdfs, tmp_path / "ds")
    queries = tmp_path / "ds" / "queries.jsonl"
    rows = queries.read_text().splitlines()
    assert json.loads(rows[0])["_id"] == "q01"
    # line 1 replaced by the bad one, or the bad one added as line 2 after the good q01
    rows = [line, *rows[1:]] if where == 1 else [rows[0], line, *rows[1:]]
    queries.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=match) as info:
        load_dataset(tmp_path / "ds")
    assert f"queries.jsonl:{where}:" in str(info.value)
