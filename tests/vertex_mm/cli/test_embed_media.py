"""``vertex-mm embed`` and ``vertex-mm index`` take the files the model reads: gemini's default
``--media all`` no longer picks up GIF or WebM files that fail on every rerun; ``--cache`` works
with contents; the dry run fails what the run fails; the help names the files each takes."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib

import pytest
from factories import image_bytes, mp4_bytes, pdf_bytes, truncated

from vertex_mm import get_embedder
from vertex_mm.cli import main
from vertex_mm.jobs.contents import extensions_for
from vertex_mm.testing import HashedEmbedder

emulator = pytest.importorskip("vertex_mm.emulator")


@pytest.fixture
def mixed(tmp_path: pathlib.Path) -> pathlib.Path:
    """A photo, a PDF and an MP4 the model reads; a GIF and a WebM clip gemini-embedding-2 does not."""
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "cat.png").write_bytes(image_bytes("PNG"))
    (root / "doc.pdf").write_bytes(pdf_bytes(1))
    (root / "clip.mp4").write_bytes(mp4_bytes(seconds=1.0, fps=2, size=(32, 32)))
    (root / "cat.gif").write_bytes(image_bytes("GIF"))
    (root / "clip.webm").write_bytes(b"\x1aE\xdf\xa3" + bytes(60))  # an EBML (WebM) header
    return root


def ids_in(out: pathlib.Path) -> list[str]:
    return sorted(json.loads(line)["id"] for line in out.read_text().splitlines())


def test_gemini_takes_only_the_media_the_model_reads_and_a_rerun_exits_0(mixed, tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    with emulator.run_emulator(backend="hashed") as emu:
        args = ["embed", str(mixed), "--out", str(out), "--backend", "gemini", "--api-endpoint", emu.url,
                "--dimension", "128", "--no-progress"]
        assert main(args) == 0, capsys.readouterr().err
        assert main(args) == 0, capsys.readouterr().err
        assert main([*args, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "0 inputs would fail" in err and "cat.gif:" not in err and "clip.webm:" not in err, err  # no failure lines
    # Left out, and said so: in both runs' summaries and in the dry run.
    assert err.count("2 files of other formats left out (cat.gif, clip.webm)") == 3, err
    assert ids_in(out) == ["cat.png", "clip.mp4", "doc.pdf"]


def test_contents_with_a_cache_on_a_backend_of_two_spaces(mixed, tmp_path, capsys):
    """`--media all --cache` failed every input on hashed (and the whole run on local) with
    "dimension=3072 is not supported ... by multimodalembedding@001"."""
    def embed(out: pathlib.Path) -> int:
        return main(["embed", str(mixed), "--out", str(out), "--backend", "hashed", "--media", "all",
                     "--cache", str(tmp_path / "c.sqlite"), "--no-progress"])

    assert embed(tmp_path / "o.jsonl") == 0, capsys.readouterr().err
    assert ids_in(tmp_path / "o.jsonl") == ["cat.png", "clip.mp4", "doc.pdf"]
    assert embed(tmp_path / "again.jsonl") == 0, capsys.readouterr().err  # every answer from the cache
    assert ids_in(tmp_path / "again.jsonl") == ids_in(tmp_path / "o.jsonl")


def test_a_dry_run_of_all_media_checks_contents_as_the_run_does(mixed, tmp_path, capsys):
    """Off gemini, the dry run of --media all built image requests: it listed doc.pdf as "not a
    recognised image" and passed files the run then failed."""
    (mixed / "broken.jpg").write_bytes(truncated(image_bytes("JPEG", size=(256, 192)), 0.3))
    args = ["embed", str(mixed), "--out", str(tmp_path / "o.jsonl"), "--backend", "hashed", "--media", "all",
            "--no-progress"]
    assert main([*args, "--dry-run"]) == 0
    dry = capsys.readouterr().err
    assert "3 inputs to send" in dry and "1 inputs would fail before sending:" in dry, dry
    assert main(args) == 1
    run = capsys.readouterr().err
    assert "3 embedded" in run and "1 failed" in run and "broken.jpg" in run, run


@pytest.mark.slow
def test_the_local_backend_dry_run_fails_what_its_run_fails_and_caches_contents(mixed, tmp_path, capsys):
    (mixed / "broken.jpg").write_bytes(truncated(image_bytes("JPEG", size=(256, 192)), 0.3))
    def embed(out: str, *extra: str) -> int:
        return main(["embed", str(mixed), "--out", str(tmp_path / out), "--backend", "local", "--no-progress", *extra])

    assert embed("o.jsonl", "--dry-run") == 0
    dry = capsys.readouterr().err
    assert "2 inputs to send" in dry and "1 inputs would fail before sending:" in dry, dry
    assert "broken.jpg: InvalidImageError" in dry and "cannot be decoded" in dry, dry
    rc = embed("c.jsonl", "--media", "all", "--cache", str(tmp_path / "c.sqlite"))
    run = capsys.readouterr().err
    assert rc == 1 and "3 embedded" in run and "1 failed" in run and "broken.jpg" in run, run


def _help(command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    return out.getvalue()


def _reads(backend: str):
    """An embedder with ``backend``'s limits: gemini's own (no call is made), or for vertex and
    local the hashed backend's, which are multimodalembedding@001's as theirs are."""
    return get_embedder("gemini", base_url="http://127.0.0.1:9") if backend == "gemini" else HashedEmbedder()


@pytest.mark.parametrize(("backend", "contents"), [("gemini", True), ("gemini", False), ("vertex", False)])
def test_embed_help_names_every_file_the_command_takes(backend, contents):
    """The help said gemini takes video "MP4" (MOV too) and "every image" (not GIF)."""
    text = _help("embed")
    missing = sorted(s for s in extensions_for(_reads(backend), contents=contents) if s not in text)
    assert missing == [], missing
    assert "(no GIF)" in text and "MP4/MOV" in text


def test_index_help_names_the_photos_each_backend_takes():
    """The help listed one fixed set; gemini takes HEIC/HEIF/AVIF and skips GIF."""
    text = _help("index")
    for backend in ("gemini", "vertex"):
        assert sorted(s for s in extensions_for(_reads(backend), contents=False) if s not in text) == []
    assert "gemini: no GIF" in text
