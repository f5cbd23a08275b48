"""``vertex-mm index`` / ``search`` / ``serve`` and the text-to-image example, end to end.

Fast tests use the hashed backend (an image finds only its own bytes); slow ones use the real
offline model and check meaning ("a cat" finds cat.jpg)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from served_process import repo_env, served

from vertex_mm import registry
from vertex_mm.cli import main
from vertex_mm.sample_data import sample_photos, sample_photos_dir, sample_query_images_dir

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def hashed_backend(monkeypatch):
    monkeypatch.setitem(registry._BACKENDS, "hashed", "vertex_mm.testing.hashed:HashedEmbedder")


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    folder = tmp_path / "photos"
    (folder / "pets").mkdir(parents=True)
    for p in sample_photos()[:4]:  # astronaut … cameraman: no cat at the top level
        shutil.copy(p, folder / p.name)
    shutil.copy(sample_photos_dir() / "cat.jpg", folder / "pets" / "cat.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_index_then_search_by_image(hashed_backend, photo_dir, tmp_path, capsys):
    idx = tmp_path / "photos.idx"
    assert main(["index", str(photo_dir), "--out", str(idx), "--backend", "hashed", "--dimension", "128",
                 "--no-progress"]) == 0
    assert "5 photos" in capsys.readouterr().err
    assert main(["search", str(idx), "--image", str(photo_dir / "pets" / "cat.jpg"), "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[image]") and lines[1].split() == ["1", "1.0000", "pets/cat.jpg"]
    assert len(lines) == 4


def test_search_json_output_and_filters(hashed_backend, photo_dir, tmp_path, capsys):
    idx = tmp_path / "photos.idx"
    main(["index", str(photo_dir), "--out", str(idx), "--backend", "hashed", "--dimension", "128", "--no-progress"])
    capsys.readouterr()
    assert main(["search", str(idx), "anything", "--filter", "folder=pets", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["pets/cat.jpg"]
    assert rows[0]["metadata"]["name"] == "cat.jpg" and Path(rows[0]["metadata"]["path"]).is_file()


def test_update_adds_new_photos_and_drops_deleted_ones(hashed_backend, photo_dir, tmp_path, capsys):
    idx = tmp_path / "photos.idx"
    args = ["index", str(photo_dir), "--out", str(idx), "--backend", "hashed", "--dimension", "128", "--no-progress"]
    main(args)
    assert main(args) == 2 and "pass --update" in capsys.readouterr().err
    (photo_dir / "pets" / "cat.jpg").unlink()
    shutil.copy(sample_photos_dir() / "rocket.jpg", photo_dir / "new_rocket.jpg")
    assert main(args + ["--update"]) == 0
    err = capsys.readouterr().err
    assert "1 embedded now, 1 removed" in err
    from vertex_mm.index import load_index

    assert sorted(load_index(idx).ids) == sorted(p.name for p in photo_dir.glob("*.jpg"))


def test_update_with_another_dimension_names_each_space_the_right_way_round(hashed_backend, photo_dir, tmp_path,
                                                                           capsys):
    idx = tmp_path / "photos.idx"
    args = ["index", str(photo_dir), "--out", str(idx), "--backend", "hashed", "--no-progress", "--update"]
    assert main(args + ["--dimension", "128"]) == 0
    capsys.readouterr()
    assert main(args + ["--dimension", "256"]) == 2
    err = capsys.readouterr().err
    # The index holds 128-dimensional vectors; these flags would embed 256.
    assert re.search(r"photos\.idx holds vectors in embedding space '[^']*/128'", err), err
    assert re.search(r"embeds in '[^']*/256'", err), err


def test_an_unreadable_photo_is_skipped_and_reported(hashed_backend, photo_dir, tmp_path, capsys):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert main(["index", str(photo_dir), "--out", str(tmp_path / "i"), "--backend", "hashed", "--no-progress"]) == 1
    assert "skipped broken.jpg" in capsys.readouterr().err


def test_folder_without_images_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["index", str(tmp_path / "empty"), "--out", str(tmp_path / "i")]) == 2
    assert "no images" in capsys.readouterr().err


def test_search_of_a_damaged_index_fails_clearly(hashed_backend, photo_dir, tmp_path, capsys):
    idx = tmp_path / "photos.idx"
    main(["index", str(photo_dir), "--out", str(idx), "--backend", "hashed", "--dimension", "128", "--no-progress"])
    with open(idx / "vectors.npy", "r+b") as f:
        f.truncate(1000)
    capsys.readouterr()
    assert main(["search", str(idx), "a cat"]) == 2
    assert "truncated" in capsys.readouterr().err


def test_search_with_a_backend_of_another_space_is_refused(hashed_backend, photo_dir, tmp_path, capsys, monkeypatch):
    idx = tmp_path / "photos.idx"
    main(["index", str(photo_dir), "--out", str(idx), "--backend", "hashed", "--dimension", "128", "--no-progress"])
    monkeypatch.setitem(registry._BACKENDS, "hashed-md5", lambda: _renamed_hashed("md5"))
    capsys.readouterr()
    assert main(["search", str(idx), "a cat", "--backend", "hashed-md5"]) == 2
    assert "hashed/md5/128" in capsys.readouterr().err


def _renamed_hashed(model: str):
    from vertex_mm.testing import HashedEmbedder

    return HashedEmbedder(model=model)


def test_search_needs_a_query(capsys, tmp_path):
    assert main(["search", str(tmp_path)]) == 2
    assert "give a text QUERY or --image" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local_index(tmp_path_factory):
    from vertex_mm.errors import MissingDependencyError, WeightsNotFoundError

    idx = tmp_path_factory.mktemp("local") / "samples.idx"
    try:
        rc = main(["index", str(sample_photos_dir()), "--out", str(idx), "--no-progress"])
    except (MissingDependencyError, WeightsNotFoundError) as exc:
        pytest.skip(f"the offline local model is not installed: {exc}")
    assert rc == 0
    return idx


@pytest.mark.slow
def test_local_model_text_and_image_search(local_index, capsys):
    capsys.readouterr()
    assert main(["search", str(local_index), "a cat", "--image",
                 str(sample_query_images_dir() / "motorcycle_other_view.jpg"), "-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "a cat:" and out[1].split()[-1] == "cat.jpg"
    assert out[3].startswith("[image]") and out[4].split()[-1] == "motorcycle.jpg"


@pytest.mark.slow
def test_serve_command_answers_on_localhost(local_index, tmp_path):
    with served(["serve", str(local_index), "--port", "0"], tmp_path) as url:
        with urllib.request.urlopen(f"{url}/api/search?q=a+cat&k=1", timeout=120) as r:
            assert json.load(r)["hits"][0]["id"] == "cat.jpg"


@pytest.mark.slow
def test_serve_on_all_interfaces_prints_an_address_it_answers(local_index, tmp_path):
    # It printed http://0.0.0.0:PORT, a Host the server's own host check refuses.
    with served(["serve", str(local_index), "--port", "0", "--host", "0.0.0.0", "--allowed-host", "photos.lan"],
                 tmp_path) as url:
        with urllib.request.urlopen(f"{url}/api/search?q=a+cat&k=1", timeout=120) as r:
            assert json.load(r)["hits"][0]["id"] == "cat.jpg"
        named = urllib.request.Request(f"{url}/api/search?q=a+cat&k=1", headers={"Host": "photos.lan"})
        with urllib.request.urlopen(named, timeout=120) as r:
            assert r.status == 200


@pytest.mark.slow
def test_the_example_runs_offline_and_writes_the_results_page(tmp_path):
    out = tmp_path / "results.html"
    run = subprocess.run([sys.executable, str(REPO / "examples" / "text_to_image_search.py"), "--check",
                          "--out", str(out)], cwd=tmp_path, env=repo_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "a cat   ✓ expected first" in run.stdout
    assert "indexed 17 photos" in run.stdout
    page = out.read_text()
    assert page.count('<li class="hit"') == 5 * 10 and "data:image/jpeg;base64," in page


@pytest.mark.slow
def test_the_example_runs_the_same_through_the_vertex_client_and_the_emulator(tmp_path):
    """--backend vertex: the real gapic client talks to the project's emulator on 127.0.0.1."""
    with served(["emulator", "--port", "0", "--backend", "local"], tmp_path) as url:
        out = tmp_path / "vertex.html"
        run = subprocess.run([sys.executable, str(REPO / "examples" / "text_to_image_search.py"), "--backend", "vertex",
                              "--api-endpoint", url, "--project", "demo-project", "--check", "--out", str(out)],
                             cwd=tmp_path, env=repo_env(), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert "space vertex/multimodalembedding@001/" in run.stdout
        assert out.read_text().count('<li class="hit"') == 50


def test_index_takes_the_rate_limit_of_a_remote_backend(emulator, photo_dir, tmp_path, mocker, capsys):
    made = mocker.spy(registry, "get_embedder")
    assert main(["index", str(photo_dir), "--out", str(tmp_path / "v.idx"), "--backend", "vertex",
                 "--api-endpoint", emulator.url, "--project", "p", "--rpm", "600", "--concurrency", "4",
                 "--no-progress"]) == 0
    embedder = made.spy_return
    assert (embedder.batch.requests_per_minute, embedder.batch.concurrency) == (600, 4)
    assert " 5 photos in " in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--rpm", "0"], ["--rpm", "nan"], ["--concurrency", "-1"], ["--rpm", "x"]])
def test_a_rate_that_is_not_positive_is_a_usage_error(flag, photo_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["index", str(photo_dir), "--out", str(tmp_path / "x.idx"), *flag])
    assert exit_.value.code == 2 and f"argument {flag[0]}:" in capsys.readouterr().err
