"""Ctrl-C during ``vertex-mm pages index`` says what was kept: ocr-fused writes its index once,
at the end, so nothing (and an earlier index is as it was); gemini and late interaction save as
they go, so the rest is indexed with ``--update``."""

from __future__ import annotations

import pytest
from page_fixtures import PDF_FIXTURE

from vertex_mm.cli import main
from vertex_mm.cli.pages import _index_interrupted

pytest.importorskip("local_backend.pages")


def test_ctrl_c_during_an_ocr_fused_index_says_nothing_was_saved_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from local_backend.pages.retriever import OcrAssistedPageRetriever

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the pages are being read

    monkeypatch.setattr(OcrAssistedPageRetriever, "index", interrupted)
    idx = tmp_path / "pages.idx"
    pdf = PDF_FIXTURE / "corpus" / "zoo-design.pdf"
    assert main(["pages", "index", str(pdf), "--index", str(idx), "--workers", "1"]) == 130
    err = capsys.readouterr().err
    assert "interrupted: nothing was saved (no index was written); run the same command again" in err
    assert not idx.exists()


@pytest.mark.parametrize("family, kept", [("gemini", "batches"), ("late interaction", "documents")])
def test_ctrl_c_during_an_index_that_saves_as_it_goes_names_the_update_rerun(tmp_path, capsys, family, kept):
    assert _index_interrupted(tmp_path / "pages.idx", family, existed=False) == 130
    err = capsys.readouterr().err
    assert f"interrupted: the {kept} finished before it (if any) are kept in {tmp_path / 'pages.idx'}; to index " \
           "the rest, run the same command with --update" in err


def test_ctrl_c_during_an_ocr_fused_update_leaves_the_earlier_index_as_it_was(tmp_path, capsys):
    assert _index_interrupted(tmp_path / "pages.idx", "ocr-fused", existed=True) == 130
    assert f"nothing was saved ({tmp_path / 'pages.idx'} is as it was)" in capsys.readouterr().err
