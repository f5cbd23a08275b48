"""Missing Google credentials are said once, plainly, with the command line's flags: ``serve``
refuses to start without them, and ``pages search`` / ``search`` print the credentials
message, not "1 of 1 inputs failed"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from page_fixtures import two_pdfs

from vertex_mm.cli import main
from vertex_mm.index import create_index
from vertex_mm.results import Embeddings, EmbeddingSpace


@pytest.fixture
def no_adc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Application Default Credentials: the key file ADC is told to read is not there."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))


def _gemini_index(path: Path) -> Path:
    space = EmbeddingSpace.from_id("gemini/gemini-embedding-2/128;task=retrieval_document")
    index = create_index(space)
    vectors = np.eye(2, 128, dtype=np.float32)
    index.add(["a.jpg", "b.jpg"], Embeddings(vectors, space), [{}, {}])
    index.save(path)
    return path


def _clean(err: str) -> None:
    assert "no Google credentials found" in err and "--api-endpoint http://127.0.0.1:PORT" in err
    assert "inputs failed" not in err and "api_endpoint=" not in err and "credentials=" not in err


@pytest.mark.usefixtures("no_adc")
def test_serve_without_credentials_refuses_to_start(tmp_path, capsys):
    pytest.importorskip("starlette")
    pytest.importorskip("multipart")
    idx = _gemini_index(tmp_path / "photos-g2.idx")
    assert main(["serve", str(idx), "--project", "my-proj", "--port", "0"]) == 2
    _clean(capsys.readouterr().err)


@pytest.mark.usefixtures("no_adc")
def test_search_without_credentials_says_so_plainly(tmp_path, capsys):
    idx = _gemini_index(tmp_path / "photos-g2.idx")
    assert main(["search", str(idx), "a cat", "--project", "my-proj"]) == 2
    _clean(capsys.readouterr().err)


def test_pages_search_without_credentials_says_so_plainly(emulator, tmp_path, capsys, monkeypatch):
    idx = tmp_path / "pages-g2.idx"
    assert main(["pages", "index", str(two_pdfs(tmp_path / "pdfs")), "--index", str(idx), "--embedder", "gemini",
                 "--dimension", "128", "--api-endpoint", emulator.url]) == 0
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    capsys.readouterr()
    assert main(["pages", "search", "--index", str(idx), "bar chart", "zoo", "--project", "my-proj"]) == 2
    _clean(capsys.readouterr().err)


def test_a_batch_of_several_inputs_failing_for_their_own_reasons_keeps_its_count():
    import io

    from vertex_mm.cli._errors import exit_code_for
    from vertex_mm.errors import BatchError, InvalidImageError

    errors = {0: InvalidImageError("a.jpg: image is empty"), 1: InvalidImageError("b.jpg: image is empty")}
    exc = BatchError("2 of 2 inputs failed; first, input #0: ...", result=[None, None], errors=errors)
    err = io.StringIO()
    assert exit_code_for(exc, "search", err=err) == 2 and "2 of 2 inputs failed" in err.getvalue()
    one = BatchError("1 of 1 inputs failed; first, input #0: ...", result=[None], errors={0: errors[0]})
    err = io.StringIO()
    assert exit_code_for(one, "search", err=err) == 2
    assert err.getvalue() == "vertex-mm search: a.jpg: image is empty\n"


@pytest.mark.usefixtures("no_adc")
def test_gemini_pages_index_without_credentials_is_refused_before_any_page(tmp_path, capsys):
    idx = tmp_path / "pages-g2.idx"
    assert main(["pages", "index", str(two_pdfs(tmp_path / "pdfs")), "--index", str(idx), "--embedder", "gemini",
                 "--project", "my-proj"]) == 2
    captured = capsys.readouterr()
    _clean(captured.err)
    assert "unreadable" not in captured.out and not idx.exists()  # no empty index left to block the next run


@pytest.mark.usefixtures("no_adc")
def test_gemini_pages_eval_without_credentials_is_refused_at_start(capsys):
    from page_fixtures import PDF_FIXTURE

    assert main(["pages", "eval", str(PDF_FIXTURE), "--embedder", "gemini", "--no-ocr-baseline",
                 "--project", "my-proj"]) == 2
    _clean(capsys.readouterr().err)
