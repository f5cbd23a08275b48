"""What ``vertex-mm embed`` says about its inputs: an interrupted run counts the source, not
the inputs read ahead; ``--dry-run`` names the inputs that would fail, with their reasons."""

from __future__ import annotations

import re

from vertex_mm.cli import main
from vertex_mm.testing.hashed import HashedEmbedder


def test_an_interrupted_run_counts_every_input_of_the_source(image_folder, tmp_path, capsys, monkeypatch):
    source, out = image_folder(40), tmp_path / "photos.jsonl"
    real = HashedEmbedder._predict
    calls = {"n": 0}

    def stop_after_five(self, request):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real(self, request)

    monkeypatch.setattr(HashedEmbedder, "_predict", stop_after_five)
    code = main(["embed", str(source), "--out", str(out), "--backend", "hashed", "--dimension", "128",
                 "--concurrency", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130, err
    done = len(out.read_text().splitlines())
    assert re.search(rf"40 inputs, {40 - done} not done yet: {done} embedded, 0 already done", err), err

