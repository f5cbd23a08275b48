"""Ctrl-C during ``vertex-mm index`` keeps the photos embedded so far and says how to go on;
the ``--update`` rerun embeds only the rest (the hashed embedder stands in for the model)."""

from __future__ import annotations

import pytest

from vertex_mm.batch.interrupt import BatchInterrupted
from vertex_mm.cli import main
from vertex_mm.index import build, load_index
from vertex_mm.testing.hashed import HashedEmbedder


@pytest.fixture
def embedded(monkeypatch, backend_options):
    """Photos embedded per call; ``stop_at[0]`` = the call (1-based) that Ctrl-C interrupts."""
    backend_options("local")
    monkeypatch.setattr(build, "_CHUNK", 2)
    calls: list[int] = []
    stop_at = [0, True]  # the call Ctrl-C interrupts; whether as the batch runner's BatchInterrupted
    real = HashedEmbedder.embed_images

    def embed_images(self, images, **kw):
        images = list(images)
        if len(calls) + 1 == stop_at[0]:
            stop_at[0] = 0
            raise BatchInterrupted([], 0) if stop_at[1] else KeyboardInterrupt

        calls.append(len(images))
        return real(self, images, **kw)

    monkeypatch.setattr(HashedEmbedder, "embed_images", embed_images)
    return calls, stop_at


def test_ctrl_c_keeps_the_finished_photos_and_names_the_update_command(image_folder, tmp_path, capsys, embedded):
    calls, stop_at = embedded
    source, out = image_folder(5), tmp_path / "photos.idx"
    stop_at[0] = 3  # two chunks of 2 done, the third interrupted
    assert main(["index", str(source), "--out", str(out), "--no-progress", "--dimension", "512"]) == 130
    err = capsys.readouterr().err
    assert "interrupted: kept 4 of the 5 photos to embed" in err
    assert f"--out {out} --backend local --dimension 512 --update" in err
    assert len(load_index(out)) == 4


def test_the_update_rerun_embeds_only_the_rest(image_folder, tmp_path, capsys, embedded):
    calls, stop_at = embedded
    source, out = image_folder(5), tmp_path / "photos.idx"
    stop_at[:] = [2, False]  # a plain KeyboardInterrupt (a backend without the batch runner)
    assert main(["index", str(source), "--out", str(out), "--no-progress"]) == 130
    calls.clear()
    assert main(["index", str(source), "--out", str(out), "--update", "--no-progress"]) == 0
    assert sum(calls) == 3 and len(load_index(out)) == 5
    assert "3 embedded now" in capsys.readouterr().err


def test_ctrl_c_before_any_photo_is_added_says_nothing_was_saved(image_folder, tmp_path, capsys, embedded):
    _, stop_at = embedded
    source, out = image_folder(3), tmp_path / "photos.idx"
    stop_at[0] = 1
    assert main(["index", str(source), "--out", str(out), "--no-progress"]) == 130
    assert "interrupted: nothing was saved" in capsys.readouterr().err
    assert not out.exists()


def test_a_ctrl_c_inside_an_upsert_is_raised_after_it_so_the_saved_index_is_whole(image_folder, tmp_path, capsys,
                                                                               embedded, monkeypatch):
    import os
    import signal

    from vertex_mm.index.flat import FlatIndex

    real = FlatIndex.upsert
    seen = []

    def upsert(self, *args, **kwargs):
        if not seen:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C mid-upsert of the first chunk
        seen.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(FlatIndex, "upsert", upsert)
    source, out = image_folder(5), tmp_path / "photos.idx"
    assert main(["index", str(source), "--out", str(out), "--no-progress"]) == 130
    assert len(seen) == 1 and len(load_index(out)) == 2
    assert "kept 2 of the 5" in capsys.readouterr().err
