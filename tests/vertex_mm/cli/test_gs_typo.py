"""A ``gs://`` URI typed a slash short (``gs:/bucket/x``) is a missing local path; the error
says which URI was probably meant."""

from __future__ import annotations

import pytest

from vertex_mm.cli import main
from vertex_mm.gcs import suggest_gs_uri


def test_embed_of_gs_with_one_slash_asks_did_you_mean(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["embed", "gs:/my-bucket/photos/", "--out", str(tmp_path / "o.jsonl"),
                 "--api-endpoint", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "gs:/my-bucket/photos/: no such folder or list file" in err
    assert "did you mean gs://my-bucket/photos/?" in err and not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(("text", "meant"), [
    ("gs:/b/x", "gs://b/x"), ("gs:b/x", "gs://b/x"), ("gs:///b/x", "gs://b/x"), ("GS://b/x", "gs://b/x"),
    ("gs://b/x", None), ("photos/", None), ("gs:", None), ("gsx:/b", None),
])
def test_near_misses_of_a_gs_uri_and_nothing_else_get_a_suggestion(text, meant):
    assert suggest_gs_uri(text) == meant
