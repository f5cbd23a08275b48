"""``vertex-mm train-projection`` from the command line, over a tiny real CLIP checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")


import tiny_hf_checkpoints as cv  # noqa: E402  (tests/support is on sys.path)

checkpoints = cv.checkpoints

from vertex_mm.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    return cv.write_photo_set(tmp_path_factory.mktemp("cli-photos"))


def _args(photo_set, out, *extra):
    images, captions = photo_set
    return ["train-projection", str(images), "--captions", str(captions), "--out", str(out), *extra]


def test_trains_writes_heads_and_metadata_and_prints_how_to_use_them(checkpoints, photo_set, tmp_path, capsys):
    out = tmp_path / "heads.pt"
    rc = main(_args(photo_set, out, "--model", "clip", "--checkpoint", str(checkpoints["clip"]), "--loss", "siglip",
                    "--head", "mlp", "--dim", "16", "--epochs", "200", "--lr", "0.01"))
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert (meta["loss"], meta["head"], meta["dim"], meta["pairs"]) == ("siglip", "mlp", 16, len(cv.PHOTO_CAPTIONS))
    assert meta["recall_at_1_after"] > meta["recall_at_1_before"]
    assert f'model="projected", heads="{out}"' in printed.out
    assert "epoch 200/200" in printed.err


def test_skipped_lines_are_reported_on_stderr(checkpoints, photo_set, tmp_path, capsys):
    images, captions = photo_set
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(captions.read_text() + '{"file": "absent.jpg", "caption": "x"}\n')
    rc = main(["train-projection", str(images), "--captions", str(mixed), "--out", str(tmp_path / "h.pt"), "--model", "clip",
               "--checkpoint", str(checkpoints["clip"]), "--epochs", "2", "--dim", "8", "--quiet"])
    printed = capsys.readouterr()
    assert rc == 0
    assert "skipped: " in printed.err and "absent.jpg does not exist" in printed.err
    assert "1 skipped" in printed.out


def test_unusable_input_exits_2_with_the_reason(photo_set, tmp_path, capsys):
    rc = main(["train-projection", str(tmp_path / "nowhere"), "--captions", str(photo_set[1]), "--out", str(tmp_path / "h.pt")])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_missing_checkpoint_exits_2_saying_how_to_get_weights(photo_set, tmp_path, capsys):
    rc = main(_args(photo_set, tmp_path / "h.pt", "--model", "clip", "--checkpoint", str(tmp_path / "no-clip")))
    assert rc == 2
    assert "huggingface-cli download" in capsys.readouterr().err


def test_the_subcommand_is_listed_by_the_installed_command():
    out = subprocess.run([sys.executable, "-m", "vertex_mm", "train-projection", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--captions" in out.stdout and "--loss {clip,siglip}" in out.stdout


@pytest.mark.parametrize("extra, says", [
    (["--model", "nope"], "unknown local model 'nope'"),
    (["--lr", "-1"], "--lr must be a finite number > 0"),
    (["--lr", "nan"], "--lr must be a finite number > 0"),
])
def test_a_bad_model_or_learning_rate_exits_2_in_one_line(photo_set, tmp_path, capsys, extra, says):
    rc = main(_args(photo_set, tmp_path / "h.pt", "--epochs", "1", *extra))
    err = capsys.readouterr().err
    assert rc == 2 and says in err and "Traceback" not in err


def test_an_output_whose_metadata_would_overwrite_weights_is_refused_before_training(checkpoints, photo_set, tmp_path,
                                                                                     capsys):
    """``--out heads.json`` wrote the metadata over the weights; ``m.safetensors`` beside ``m.pt``
    overwrote ``m.json``. Both exited 0 with weights that no longer loaded."""
    from local_backend.training.projection_heads import load_heads

    rc = main(_args(photo_set, tmp_path / "heads.json", "--epochs", "1"))
    assert rc == 2 and "cannot end in .json" in capsys.readouterr().err
    assert not (tmp_path / "heads.json").exists()
    clip = ["--model", "clip", "--checkpoint", str(checkpoints["clip"]), "--epochs", "2", "--dim", "8", "--quiet"]
    assert main(_args(photo_set, tmp_path / "m.pt", *clip)) == 0
    capsys.readouterr()
    rc = main(_args(photo_set, tmp_path / "m.safetensors", *clip))
    assert rc == 2 and "m.json holds the metadata of m.pt" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()
    load_heads(tmp_path / "m.pt")  # still loads
    assert main(_args(photo_set, tmp_path / "m.pt", *clip)) == 0  # training the same output again is fine
    load_heads(tmp_path / "m.pt")
