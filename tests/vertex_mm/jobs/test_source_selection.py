"""Which files a job takes (those its model reads, no other) and what its dry run checks (what
the run would fail, decode included, on backends whose request builder does not decode)."""

from __future__ import annotations

import json
import pathlib

import pytest
from factories import image_bytes, pdf_bytes, truncated

from vertex_mm import get_embedder
from vertex_mm.jobs import CONTENT_EXTENSIONS, content_extensions_for, run_job
from vertex_mm.jobs.estimate import check_source
from vertex_mm.testing import HashedEmbedder

#: Formats gemini-embedding-2 cannot read, each of which failed on every rerun of a folder job.
OTHER_FORMATS = (".gif", ".webm", ".mkv", ".avi", ".flv", ".mpeg", ".mpg", ".ts", ".wmv")


@pytest.fixture
def mixed(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "cat.png").write_bytes(image_bytes("PNG"))
    (root / "doc.pdf").write_bytes(pdf_bytes(1))
    (root / "cat.gif").write_bytes(image_bytes("GIF"))
    (root / "clip.webm").write_bytes(b"\x1aE\xdf\xa3" + bytes(60))  # an EBML (WebM / MKV) header
    (root / "clip.mkv").write_bytes(b"\x1aE\xdf\xa3" + bytes(60))
    return root


def test_the_content_files_taken_are_those_the_model_reads():
    takes = content_extensions_for(HashedEmbedder())  # gemini-embedding-2's content limits
    assert {".jpg", ".png", ".webp", ".heic", ".avif", ".pdf", ".mp3", ".wav", ".mp4", ".mov"} <= takes
    assert takes.isdisjoint(OTHER_FORMATS)
    assert takes == content_extensions_for(get_embedder("gemini", base_url="http://127.0.0.1:9"))
    # A model whose limits say nothing of contents: every media file, and its per-item error says why.
    assert content_extensions_for(object()) == CONTENT_EXTENSIONS


def test_a_content_job_skips_the_files_of_formats_the_model_cannot_read(mixed, tmp_path):
    report = run_job(HashedEmbedder(), mixed, tmp_path / "o.jsonl", dimension=128, contents=True)
    assert (report.seen, report.failed) == (2, 0), report.error_lines()
    assert sorted(json.loads(line)["id"] for line in (tmp_path / "o.jsonl").read_text().splitlines()) == [
        "cat.png", "doc.pdf"]


@pytest.mark.parametrize("contents", [False, True])
def test_a_dry_run_decodes_the_images_a_backend_decodes_only_when_it_embeds(mixed, contents):
    """The local backend's request builder does not decode (it decodes when it embeds): its dry
    run passed a truncated JPEG that its run then failed."""
    (mixed / "broken.jpg").write_bytes(truncated(image_bytes("JPEG", size=(256, 192)), 0.3))
    embedder = HashedEmbedder()
    embedder.decode_check = False  # as the local backend's
    pending, failures = check_source(embedder, mixed, dimension=128, contents=contents)
    assert [f.split(":")[0] for f in failures] == ["broken.jpg"], failures
    assert "cannot be decoded" in failures[0]
    # images: cat.gif and cat.png (@001 reads GIF); contents: cat.png and doc.pdf, no GIF
    assert pending == 2


def test_a_dry_run_of_contents_checks_contents_not_images(mixed):
    """The non-gemini dry run of --media all built image requests: it listed the PDF as "not a
    recognised image" and passed the GIF, which the run fails."""
    (mixed / "notes.pdf").write_bytes(pdf_bytes(2))
    pending, failures = check_source(HashedEmbedder(), mixed, dimension=128, contents=True)
    assert (pending, failures) == (3, [])
    report = run_job(HashedEmbedder(), mixed, mixed.parent / "o.jsonl", dimension=128, contents=True)
    assert report.embedded == pending and report.failed == len(failures)
