"""``pages --embedder gemini``: one gemini-embedding-2 vector per page (or chunk), over real
HTTP to the emulator, with the unmodified google-genai client underneath."""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any

import numpy as np
import pytest
from factories import image_bytes
from page_fixtures import PDF_FIXTURE, one_page_pdf, two_pdfs

from vertex_mm import Document, get_embedder
from vertex_mm.cli import main
from vertex_mm.errors import InputError
from vertex_mm.index import FlatIndex, load_index
from vertex_mm.pages import expand_sources
from vertex_mm.pages.content_retriever import ContentPageRetriever
from vertex_mm.pdf import open_pdf
from vertex_mm.registry import get_page_retriever, load_page_retriever, parse_page_retriever_spec


@pytest.fixture
def gemini(emulator: Any) -> Any:
    return get_embedder("gemini", base_url=emulator.url, requests_per_minute=None)


def _retriever(gemini: Any, **options: Any) -> ContentPageRetriever:
    return ContentPageRetriever(gemini, dimension=256, **options)


def test_each_pdf_page_is_sent_as_a_one_page_pdf_with_the_document_task(gemini: Any, hashed: Any, tmp_path: pathlib.Path) -> None:
    pdf = PDF_FIXTURE / "corpus" / "zoo-design.pdf"
    r = _retriever(gemini)
    stats = r.index(expand_sources([pdf]))
    assert stats.pages == 2 and stats.documents == {"zoo-design": 2} and not stats.errors
    assert r.page_ids == ["zoo-design#1", "zoo-design#2"]
    with open_pdf(pdf) as doc:
        page2 = doc.extract([1])
    expected = hashed.embed_content([Document(page2)], dimension=256, task="retrieval_document")
    stored = np.asarray(r.flat.vector("zoo-design#2"))[0]
    np.testing.assert_allclose(stored, expected, atol=1e-6)
    assert r.flat.space.id == "gemini/gemini-embedding-2/256;task=retrieval_document"


def test_queries_use_the_query_task_and_scores_are_cosines_in_page_order(gemini: Any, hashed: Any) -> None:
    r = _retriever(gemini)
    r.index(expand_sources([PDF_FIXTURE / "corpus" / "zoo-design.pdf", PDF_FIXTURE / "corpus" / "effects-hex.pdf"]))
    scores = r.score(["hexagon logo"])
    q = hashed.embed_content("hexagon logo", dimension=256, task="retrieval_query")
    pages = np.stack([np.asarray(r.flat.vector(p))[0] for p in r.page_ids])
    np.testing.assert_allclose(scores[0], pages @ q, atol=1e-5)
    hits = r.search(["hexagon logo"], k=2)[0]
    assert [h.page_id for h in hits] == [r.page_ids[i] for i in np.argsort(-scores[0])[:2]]
    assert hits[0].score == pytest.approx(float(scores[0].max()), abs=1e-5)


def test_chunks_of_pages_share_one_vector_and_every_page_gets_its_score(gemini: Any) -> None:
    r = _retriever(gemini, pages_per_vector=4)
    refs = expand_sources([PDF_FIXTURE / "corpus" / "zoo-quickref.pdf", PDF_FIXTURE / "corpus" / "effects-hex.pdf"])
    stats = r.index(refs)
    assert stats.pages == 12 and len(r.flat) == 4  # 11 pages -> 4 + 4 + 3, and one page alone
    assert r.flat.ids == ["zoo-quickref#1-4", "zoo-quickref#5-8", "zoo-quickref#9-11", "effects-hex#1"]
    assert len(r.page_ids) == 12 and len(set(r.page_ids)) == 12
    scores = r.score(["a table", "a chart"])
    assert scores.shape == (2, 12)
    column = {p: j for j, p in enumerate(r.page_ids)}
    assert scores[0, column["zoo-quickref#5"]] == scores[0, column["zoo-quickref#8"]]
    hits = r.search(["a table"], k=6)[0]
    assert len(hits) == 6 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.metadata["vector"] in r.flat.ids for h in hits)


def test_a_page_that_fails_is_listed_and_the_rest_is_indexed(gemini: Any, tmp_path: pathlib.Path) -> None:
    folder = two_pdfs(tmp_path / "pages")
    (folder / "scan.png").write_bytes(image_bytes("PNG", size=(40, 60), color=(250, 250, 250)))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    r = _retriever(gemini)
    stats = r.index(expand_sources([folder]))
    assert stats.pages == 4 and sorted(r.page_ids) == ["effects-hex#1", "scan", "zoo-design#1", "zoo-design#2"]
    assert len(stats.errors) == 1 and stats.errors[0].startswith("broken: ")


class _DiesAfter:
    """The gemini embedder, killed (as by Ctrl-C) on its ``n``-th call: a boundary double."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n, self.calls = inner, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_contents(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.inner.embed_contents(*args, **kwargs)


def test_a_killed_run_keeps_finished_batches_and_the_next_run_embeds_only_the_rest(
    gemini: Any, tmp_path: pathlib.Path,
) -> None:
    idx = tmp_path / "idx"
    refs = expand_sources([PDF_FIXTURE / "corpus" / "zoo-quickref.pdf"])
    dying = _DiesAfter(gemini, 3)
    with pytest.raises(KeyboardInterrupt):
        ContentPageRetriever(dying, dimension=256, batch_size=4).index(refs, save_to=idx)
    saved = load_index(idx)
    assert isinstance(saved, FlatIndex) and len(saved) == 8  # two batches of 4 were saved
    counting = _DiesAfter(gemini, 0)
    resumed = load_page_retriever(idx, "gemini", embedder_options={"base_url": gemini.base_url}, batch_size=4)
    resumed.embedder = counting
    stats = resumed.index(refs, save_to=idx)
    assert stats.pages == 3 and counting.calls == 1
    assert sorted(load_page_retriever(idx, embedder_options={"base_url": gemini.base_url}).page_ids) == \
        sorted(r.page_id for r in refs)


class _CtrlCMidBatch:
    """The gemini embedder stopped by Ctrl-C in its ``n``-th batch after ``done`` of its pages came
    back, as the batch runner raises it: a BatchInterrupted carrying the finished vectors (NaN and
    NotRunError for the rest). A boundary double over the real embedder."""

    def __init__(self, inner: Any, n: int, done: int) -> None:
        self.inner, self.n, self.done, self.calls, self.sent = inner, n, done, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_contents(self, contents: Any, **kwargs: Any) -> Any:
        from vertex_mm.batch.interrupt import BatchInterrupted
        from vertex_mm.errors import NotRunError
        from vertex_mm.results import Embeddings

        self.calls += 1
        contents = list(contents)
        if self.calls != self.n:
            self.sent += len(contents)
            return self.inner.embed_contents(contents, **kwargs)
        finished = self.inner.embed_contents(contents[: self.done], **kwargs)
        self.sent += self.done
        rows = np.full((len(contents), finished.shape[1]), np.nan, dtype=np.float32)
        rows[: self.done] = finished
        stop = BatchInterrupted([], self.done)
        stop.result = Embeddings(rows, finished.space, errors=[None] * self.done + [
            NotRunError("not run: the batch was stopped")] * (len(contents) - self.done))
        raise stop


def test_ctrl_c_mid_batch_keeps_the_pages_already_embedded_so_the_rerun_does_not_pay_for_them_again(
    gemini: Any, tmp_path: pathlib.Path,
) -> None:
    idx = tmp_path / "idx"
    refs = expand_sources([PDF_FIXTURE / "corpus" / "zoo-quickref.pdf"])  # 11 pages
    stopped = _CtrlCMidBatch(gemini, n=2, done=3)  # batch 1 (4 pages) done, 3 of batch 2's 4 back
    with pytest.raises(KeyboardInterrupt):
        ContentPageRetriever(stopped, dimension=256, batch_size=4).index(refs, save_to=idx)
    assert len(load_index(idx)) == 7  # 4 + the 3 finished of the batch in flight
    resumed = load_page_retriever(idx, "gemini", embedder_options={"base_url": gemini.base_url}, batch_size=4)
    counting = _CtrlCMidBatch(gemini, n=0, done=0)
    resumed.embedder = counting
    stats = resumed.index(refs, save_to=idx)
    assert stats.pages == len(refs) - 7 and counting.sent == len(refs) - 7 and not stats.errors


def test_cli_indexes_resumes_searches_and_evaluates_through_the_emulator(
    emulator: Any, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    idx = tmp_path / "idx"
    corpus = two_pdfs(tmp_path / "corpus")
    endpoint = ["--api-endpoint", emulator.url]
    assert main(["pages", "index", str(corpus), "--index", str(idx), "--embedder", "gemini", "--dimension", "128",
                 *endpoint]) == 0
    assert "indexed 3 pages with gemini" in capsys.readouterr().out
    manifest = json.loads((idx / "manifest.json").read_text())
    assert manifest["kind"] == "content-pages" and manifest["dimension"] == 128 and manifest["count"] == 3
    assert emulator.url not in json.dumps(manifest)  # no endpoint or credential is stored
    shutil.copy(PDF_FIXTURE / "corpus" / "hexagon_binning.pdf", corpus)
    assert main(["pages", "index", str(corpus), "--index", str(idx), "--embedder", "gemini", *endpoint]) == 2
    assert "already holds a gemini page index (gemini/gemini-embedding-2/128" in capsys.readouterr().err
    assert main(["pages", "index", str(corpus), "--index", str(idx), *endpoint]) == 2  # forgot --embedder: not replaced
    err = capsys.readouterr().err
    assert "this run builds 'ocr-fused'" in err and "--embedder gemini --update" in err
    assert json.loads((idx / "manifest.json").read_text())["count"] == 3
    assert main(["pages", "index", str(corpus), "--index", str(idx), "--embedder", "gemini", "--update", "--dimension", "256",
                 *endpoint]) == 2
    assert f"--dimension 256: {idx} was built with 128, which it keeps" in capsys.readouterr().err
    assert main(["pages", "index", str(corpus), "--index", str(idx), "--embedder", "gemini", "--update", "--dimension", "128",
                 *endpoint]) == 0
    out = capsys.readouterr().out
    assert "indexed 11 pages with gemini" in out and "(14 pages in the index, 3 already there" in out

    assert main(["pages", "search", "--index", str(idx), "hexagon logo", "-k", "4", "--json", *endpoint]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["retriever"] == "gemini" and len(line["hits"]) == 4
    assert main(["pages", "search", "--index", str(idx), "hexagon logo", "--embedder", "regions"]) == 2
    assert "search it with gemini, not 'regions'" in capsys.readouterr().err

    assert main(["pages", "eval", str(PDF_FIXTURE), "--embedder", "gemini", "--no-ocr-baseline", *endpoint]) == 0
    report = capsys.readouterr().out
    assert "gemini (one vector per page)" in report and report.strip().splitlines()[-1].startswith("RESULT ndcg5=")
    assert "OCR" not in report


def test_bad_settings_are_input_errors(gemini: Any) -> None:
    with pytest.raises(InputError, match="pages_per_vector must be 1..6"):
        _retriever(gemini, pages_per_vector=7)
    with pytest.raises(InputError, match="dimension"):
        ContentPageRetriever(gemini, dimension=5000)
    with pytest.raises(InputError, match="takes no checkpoint folder"):
        parse_page_retriever_spec("gemini:/models/x")
    assert parse_page_retriever_spec("gemini").content and not parse_page_retriever_spec("gemini").late_interaction
    assert isinstance(get_page_retriever("gemini", dimension=128, embedder_options={"base_url": gemini.base_url}),
                      ContentPageRetriever)


def test_a_run_whose_every_page_fails_writes_no_empty_index(emulator: Any, tmp_path: pathlib.Path) -> None:
    # An empty index would only make the rerun (once the quota is back) ask for --update.
    idx = tmp_path / "idx"
    refs = expand_sources([two_pdfs(tmp_path / "corpus")])
    emulator.set_faults(fault_rate_429=1.0, retry_after=0)
    storm = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    stats = ContentPageRetriever(storm, dimension=128, batch_size=2).index(refs, save_to=idx)
    assert stats.pages == 0 and len(stats.errors) == len(refs) and not idx.exists()
    emulator.set_faults(fault_rate_429=0.0)
    sunny = get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)
    stats = ContentPageRetriever(sunny, dimension=128, batch_size=2).index(refs, save_to=idx)
    assert stats.pages == len(refs) and len(load_index(idx)) == len(refs)
    emulator.set_faults(fault_rate_429=1.0, retry_after=0)  # an index that is there stays as it was
    stats = load_page_retriever(idx, "gemini", embedder_options={"base_url": emulator.url, "retry": "none"},
                                replace=True).index(refs, save_to=idx)
    assert stats.pages == 0 and len(load_index(idx)) == len(refs)


@pytest.mark.slow  # the CLI's default retry policy outlasts a 503 storm in about a minute
def test_cli_says_no_index_was_written_when_the_service_refused_every_page(
    emulator: Any, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    idx = tmp_path / "idx"
    pdf = PDF_FIXTURE / "corpus" / "zoo-design.pdf"
    emulator.set_faults(fault_rate_503=1.0, retry_after=0)
    code = main(["pages", "index", str(pdf), "--index", str(idx), "--embedder", "gemini", "--api-endpoint", emulator.url])
    out = capsys.readouterr().out
    assert code == 1 and not idx.exists()
    assert f"no index was written to {idx}: not one page was embedded" in out
    assert out.count("  not indexed: zoo-design#") == 2 and "503" in out


@pytest.mark.parametrize("pages_per_vector", [1, 2])
def test_replacing_a_file_that_shrank_drops_its_old_pages(gemini: Any, tmp_path: pathlib.Path, pages_per_vector: int) -> None:
    # zoo-design.pdf had 2 pages and now has 1: page 2 must not stay searchable after --replace.
    corpus = two_pdfs(tmp_path / "corpus")
    idx = tmp_path / "idx"
    _retriever(gemini, pages_per_vector=pages_per_vector).index(expand_sources([corpus]), save_to=idx)
    assert sorted(load_page_retriever(idx, "gemini", embedder_options={"base_url": gemini.base_url}).page_ids) == [
        "effects-hex#1", "zoo-design#1", "zoo-design#2"]
    one_page_pdf(PDF_FIXTURE / "corpus" / "zoo-design.pdf", 1, corpus / "zoo-design.pdf")
    grown = load_page_retriever(idx, "gemini", embedder_options={"base_url": gemini.base_url}, replace=True)
    stats = grown.index(expand_sources([corpus / "zoo-design.pdf"]), save_to=idx)
    assert stats.pages == 1
    again = load_page_retriever(idx, "gemini", embedder_options={"base_url": gemini.base_url})
    assert sorted(again.page_ids) == ["effects-hex#1", "zoo-design#1"]
    assert {h.page_id for h in again.search(["zoo"], k=5)[0]} == {"effects-hex#1", "zoo-design#1"}
