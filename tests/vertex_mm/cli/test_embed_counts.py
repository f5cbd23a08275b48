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


def _dry_run(source, out, *extra):
    return main(["embed", str(source), "--out", str(out), "--backend", "gemini", "--api-endpoint", "http://127.0.0.1:9",
                 "--dimension", "768", "--dry-run", *extra])


def test_dry_run_names_the_inputs_that_would_fail_and_why(image_folder, tmp_path, capsys):
    source = image_folder(2)
    (source / "fake.pdf").write_bytes(b"<html>not a pdf</html>")
    (source / "empty.png").write_bytes(b"")
    assert _dry_run(source, tmp_path / "o.jsonl") == 0
    err = capsys.readouterr().err
    assert "2 inputs would fail before sending:" in err
    lines = [line.strip() for line in err.splitlines() if line.startswith("  ") and ": " in line]
    assert any(line.startswith("fake.pdf: ") for line in lines), err
    assert any(line.startswith("empty.png: ") for line in lines), err
    assert "nothing was sent" in err


def test_dry_run_over_an_output_of_another_space_is_refused_as_the_run_would_be(image_folder, tmp_path, capsys):
    source, out = image_folder(2), tmp_path / "o.jsonl"
    out.write_text('{"id":"a/img_0000.jpg","content_hash":"x","space":"gemini/gemini-embedding-2/3072",'
                   '"embedding":[1.0]}\n')
    assert _dry_run(source, out) == 2
    assert "'gemini/gemini-embedding-2/3072'" in capsys.readouterr().err


def test_dry_run_on_a_backend_without_prices_still_names_the_inputs_that_would_fail(image_folder, tmp_path, capsys):
    """The README promises the failing inputs for any run; on vertex, local and hashed the dry
    run printed only the mode."""
    source = image_folder(3)
    (source / "broken.jpg").write_bytes((source / "a" / "img_0000.jpg").read_bytes()[:200])
    (source / "text.png").write_bytes(b"not an image at all")
    out = tmp_path / "o.jsonl"
    assert main(["embed", str(source), "--out", str(out), "--backend", "hashed", "--dimension", "128",
                 "--no-progress"]) == 1
    capsys.readouterr()
    (source / "new.jpg").write_bytes((source / "b" / "img_0001.jpg").read_bytes())
    code = main(["embed", str(source), "--out", str(out), "--backend", "hashed", "--dimension", "128", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "1 inputs to send" in err and "2 inputs would fail before sending:" in err, err
    lines = {line.strip().split(":")[0] for line in err.splitlines() if line.startswith("  ")}
    assert lines == {"broken.jpg", "text.png"}, err
