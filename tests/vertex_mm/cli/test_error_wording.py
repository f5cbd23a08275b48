"""Messages that say the right thing where they are read: the >6-page PDF hint (true for the
command, absent from the emulator's imitation of the service), the CLI's flags instead of
Python arguments in the no-credentials hint, and "an image file"."""

from __future__ import annotations

import io

import pytest
from factories import pdf_bytes

from vertex_mm.cli._errors import exit_code_for
from vertex_mm.errors import InputIsADirectoryError, InvalidDocumentError, UnauthenticatedError
from vertex_mm.google_api import translate_error
from vertex_mm.limits.content import check_document_bytes
from vertex_mm.limits.models import GEMINI_EMBEDDING_2
from vertex_mm.media import read_input_file


def test_a_long_pdf_says_how_to_embed_it_page_by_page():
    with pytest.raises(InvalidDocumentError) as info:
        check_document_bytes(pdf_bytes(7), GEMINI_EMBEDDING_2.content, name="long.pdf")
    exc = info.value
    assert "7 pages" in exc.detail and "at most 6" in exc.detail and "vertex-mm" not in exc.detail
    assert "vertex-mm pages index --embedder gemini" in exc.hint and "at most 6 pages" in exc.hint
    assert str(exc) == f"{exc.detail}. {exc.hint}"
    assert "one page per content by default" not in str(exc)  # the old, wrong claim


def test_the_emulator_answers_what_broke_without_vertex_mm_advice():
    from vertex_mm.emulator.errors import from_vertex_mm_error

    exc = InvalidDocumentError("long.pdf: the PDF has 7 pages", input_name="long.pdf", hint="Use vertex-mm pages")
    answer = from_vertex_mm_error(exc)
    assert answer.status_code == 400 and answer.message == "long.pdf: the PDF has 7 pages"


def test_the_command_gives_the_long_pdf_hint(tmp_path, capsys):
    emulator = pytest.importorskip("vertex_mm.emulator")
    from vertex_mm.cli import main

    source = tmp_path / "media"
    source.mkdir()
    (source / "long.pdf").write_bytes(pdf_bytes(7))
    (source / "short.pdf").write_bytes(pdf_bytes(2))
    with emulator.run_emulator(backend="hashed") as emu:
        rc = main(["embed", str(source), "--out", str(tmp_path / "m.jsonl"), "--backend", "gemini", "--api-endpoint",
                   emu.url, "--dimension", "128", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "1 embedded" in err and "long.pdf" in err
    assert "vertex-mm pages index --embedder gemini" in err


def test_the_no_credentials_hint_names_the_command_line_flag():
    import google.auth.exceptions

    exc = translate_error(google.auth.exceptions.DefaultCredentialsError("no ADC"))
    assert isinstance(exc, UnauthenticatedError) and "api_endpoint='http://127.0.0.1:PORT'" in str(exc)  # Python
    err = io.StringIO()
    assert exit_code_for(exc, "embed", err=err) == 2
    line = err.getvalue()
    assert "--api-endpoint http://127.0.0.1:PORT" in line and "GOOGLE_APPLICATION_CREDENTIALS" in line
    assert "api_endpoint=" not in line and "credentials=" not in line


@pytest.mark.parametrize(("kind", "wording"), [("image", "not an image file"), ("audio", "not an audio file"),
                                               ("media", "not a media file"), ("video", "not a video file")])
def test_a_folder_is_not_an_image_file(kind, wording, tmp_path):
    with pytest.raises(InputIsADirectoryError, match=wording):
        read_input_file(tmp_path, kind=kind, max_bytes=100)


def test_a_message_built_of_lines_keeps_them_on_the_command_line():
    from vertex_mm.errors import WeightsNotFoundError

    exc = WeightsNotFoundError("no checkpoint in ./ckpt\nLooked in:   ./ckpt\n\n1. run   huggingface-cli download X\n")
    err = io.StringIO()
    assert exit_code_for(exc, "pages", err=err) == 2
    assert err.getvalue() == ("vertex-mm pages: no checkpoint in ./ckpt\n  Looked in: ./ckpt\n"
                              "  1. run huggingface-cli download X\n")


def test_a_format_that_contradicts_the_output_suffix_is_refused(tmp_path, capsys):
    from vertex_mm.cli import main

    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "x.jsonl"), "--format", "parquet",
                 "--backend", "hashed"]) == 2
    assert "--format parquet writes parquet, but --out" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_an_output_suffix_of_another_format_is_refused_not_written_as_jsonl(tmp_path, capsys):
    from vertex_mm.cli import main

    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "emb.npy"), "--backend", "hashed"]) == 2
    assert "writes JSONL (.jsonl) or Parquet (.parquet), not .npy" in capsys.readouterr().err
    assert not (tmp_path / "emb.npy").exists()
    from factories import image_bytes

    (tmp_path / "photo.jpg").write_bytes(image_bytes("JPEG"))  # an empty source is refused on its own
    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "emb.npy"), "--format", "jsonl",
                 "--backend", "hashed"]) == 0  # asked for by name


def test_searching_a_page_index_with_search_points_at_pages_search(tmp_path, capsys):
    import numpy as np

    from vertex_mm.cli import main
    from vertex_mm.index import MultiVectorIndex
    from vertex_mm.results import EmbeddingSpace

    idx = MultiVectorIndex(EmbeddingSpace("test", "mv", 4))
    idx.add("a.pdf", [np.ones((3, 4), np.float32)])
    idx.save(tmp_path / "pages.idx")
    assert main(["search", str(tmp_path / "pages.idx"), "a query", "--backend", "hashed"]) == 2
    assert "is a page index: search it with vertex-mm pages search --index" in capsys.readouterr().err
