"""``--device`` of the embedding commands: passed to the local backend, validated, and refused
for the cloud backends."""

from __future__ import annotations

from typing import Any

import pytest

from vertex_mm.cli import main


@pytest.fixture
def local_options(backend_options) -> list[dict[str, Any]]:
    """Stands in for the local backend: records the options it was built with."""
    return backend_options("local")


@pytest.mark.parametrize(("flag", "expected"), [([], None), (["--device", "CUDA:1"], "cuda:1"), (["--device", "cpu"], "cpu")])
def test_index_passes_the_device_to_the_local_backend(photo_dir, tmp_path, local_options, flag, expected) -> None:
    assert main(["index", str(photo_dir), "--out", str(tmp_path / "idx"), "--backend", "local", "--no-progress", *flag]) == 0
    assert local_options[0].get("device") == expected


def test_a_bad_device_is_refused_naming_it(photo_dir, tmp_path, local_options, capsys) -> None:
    assert main(["index", str(photo_dir), "--out", str(tmp_path / "idx"), "--backend", "local", "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "'tpu'" in err and "'auto', 'cpu', 'cuda'" in err and not local_options


def test_device_is_for_the_local_backend_only(tmp_path, capsys) -> None:
    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--backend", "vertex", "--device", "cuda"]) == 2
    assert "--device applies to the local backend only" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--api-endpoint", "http://127.0.0.1:8080"], ["--project", "p", "--location", "us"]])
def test_service_flags_are_refused_for_the_local_backend(photo_dir, tmp_path, local_options, capsys, flags) -> None:
    # Before, --api-endpoint reached the local model factory and ended in a TypeError traceback.
    assert main(["embed", str(photo_dir), "--out", str(tmp_path / "o.jsonl"), "--backend", "local", *flags]) == 2
    err = capsys.readouterr().err
    assert flags[0] in err and "vertex and gemini backends, not 'local'" in err and not local_options
