"""Edges of ``vertex-mm index`` / ``search`` / ``serve`` and the flat index they share: a photo
linked from outside the folder, a k far beyond the index, FAISS settings FAISS itself cannot
take, serve's -k and --port, and filters whose values or keys are not strings."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from vertex_mm import Embeddings, EmbeddingSpace, registry
from vertex_mm.cli import main
from vertex_mm.index import Filter, FlatIndex, IndexConfig, create_index, load_index
from vertex_mm.index.errors import InvalidIndexArgumentError
from vertex_mm.sample_data import sample_photos

SPACE = EmbeddingSpace("test", "gaussian", 8)


@pytest.fixture
def hashed_backend(monkeypatch):
    monkeypatch.setitem(registry._BACKENDS, "hashed", "vertex_mm.testing.hashed:HashedEmbedder")


def _flat(metas: list[dict]) -> FlatIndex:
    x = np.random.default_rng(0).standard_normal((len(metas), 8)).astype(np.float32)
    index = FlatIndex(SPACE)
    index.add([f"r{i}" for i in range(len(metas))], Embeddings(x / np.linalg.norm(x, axis=1, keepdims=True), SPACE),
              metas)
    return index


def test_a_photo_linked_from_outside_the_folder_keeps_its_name_as_its_id(hashed_backend, tmp_path, capsys):
    folder, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    first, second = sample_photos()[:2]
    shutil.copy(first, folder / first.name)
    shutil.copy(second, elsewhere / "outside.jpg")
    (folder / "link.jpg").symlink_to(elsewhere / "outside.jpg")  # it raised ValueError: not in the subpath
    idx = tmp_path / "p.idx"
    assert main(["index", str(folder), "--out", str(idx), "--backend", "hashed", "--dimension", "128",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["search", str(idx), "--image", str(elsewhere / "outside.jpg"), "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "link.jpg"


def test_a_k_far_beyond_the_index_is_refused_not_allocated():
    index = _flat([{}] * 3)
    q = Embeddings(np.ones((1, 8), np.float32), SPACE)
    assert index.search(q, k=10).scores.shape == (1, 10)  # padded with -inf, as documented
    with pytest.raises(InvalidIndexArgumentError, match=r"k=1,000,000,000,000 is more than the 3 rows of the index"):
        index.search(q, k=10**12)


@pytest.mark.parametrize(("setting", "value"), [("hnsw_m", 0), ("hnsw_m", -1), ("hnsw_m", "32"), ("ivf_nprobe", 0),
                                                ("hnsw_ef_search", True), ("ivf_nlist", 0)])
def test_faiss_settings_out_of_range_are_refused_before_faiss_sees_them(setting, value):
    # hnsw_m=0 aborted the process in a FAISS assertion; -1 hung.
    with pytest.raises(ValueError, match=f"{setting} must be an integer from 1 to"):
        IndexConfig(SPACE, **{setting: value})
    assert create_index(IndexConfig(SPACE, ivf_nlist=None), "flat") is not None  # None: picked from the rows


@pytest.mark.parametrize("argv", [["-k", "0"], ["-k", "500"], ["--port", "70000"], ["--port", "-5"]])
def test_serve_refuses_a_bad_k_or_port_as_a_usage_error(tmp_path, capsys, argv):
    _flat([{}]).save(tmp_path / "p.idx")
    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(tmp_path / "p.idx"), *argv])
    assert exit_.value.code == 2 and argv[0] in capsys.readouterr().err


def test_filters_keep_booleans_apart_from_numbers_and_take_keys_as_strings():
    index = _flat([{"flag": 1, "n": 0}, {"flag": True, "n": 1}, {"flag": False, "n": 2}, {"flag": 0, "n": 3}])
    q = Embeddings(np.ones((1, 8), np.float32), SPACE)

    def found(equals: dict) -> list[str]:
        return sorted(h.id for h in index.search(q, k=4, filter=equals)[0])

    assert found({"flag": True}) == ["r1"] and found({"flag": 1}) == ["r0"]  # True matched 1 before
    assert found({"flag": False}) == ["r2"] and found({"flag": 0}) == ["r3"]
    index2 = _flat([{"1": "x"}, {"1": "y"}])
    assert Filter({1: "x"}) == Filter({"1": "x"})  # one cache entry, one meaning
    assert sorted(h.id for h in index2.search(q, k=2, filter={1: "x"})[0]) == ["r0"]
    assert sorted(h.id for h in index2.search(q, k=2, filter={"1": "x"})[0]) == ["r0"]


def test_search_filter_values_take_the_type_the_index_holds(hashed_backend, tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((3, 128)).astype(np.float32)
    space = EmbeddingSpace("hashed", "sha256", 128)
    index = FlatIndex(space)
    index.add(["a", "b", "c"], Embeddings(x / np.linalg.norm(x, axis=1, keepdims=True), space),
              [{"year": 2020, "fav": True, "folder": "2020"}, {"year": 2021, "fav": False, "folder": "x"},
               {"year": 2020.0, "fav": False, "folder": "2021"}])
    index.save(tmp_path / "p.idx")

    def ids(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        main(["search", str(tmp_path / "p.idx"), "anything", "-k", "3", "--json", *args])
        return sorted(json.loads(line)["id"] for line in capsys.readouterr().out.splitlines())

    assert ids("year=2020") == ["a", "c"] and ids("fav=true") == ["a"]  # numbers and booleans as stored
    assert ids("folder=2020") == ["a"]  # text where the index holds text
    assert ids("year=2020", "fav=false") == ["c"]


def test_update_with_another_kind_is_a_usage_error_not_ignored(hashed_backend, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photos()[0], folder / "a.jpg")
    args = ["index", str(folder), "--out", str(tmp_path / "p.idx"), "--backend", "hashed", "--dimension", "128",
            "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--update", "--kind", "faiss"]) == 2  # exited 0 and kept a flat index
    assert "is a flat index; --update keeps its kind" in capsys.readouterr().err
    assert main([*args, "--update", "--kind", "flat"]) == 0 and main([*args, "--update"]) == 0


def _index_args(folder, idx) -> list[str]:
    return ["index", str(folder), "--out", str(idx), "--backend", "hashed", "--dimension", "128", "--no-progress"]


def test_update_embeds_a_photo_again_when_its_bytes_changed(hashed_backend, tmp_path, capsys):
    # --update took a photo as done when its id was in the index: a cat.jpg replaced by other
    # bytes kept the vector of the old picture (review finding 3a).
    folder = tmp_path / "photos"
    folder.mkdir()
    first, second, third = sample_photos()[:3]
    shutil.copy(first, folder / "cat.jpg")
    shutil.copy(second, folder / "b.jpg")
    idx = tmp_path / "p.idx"
    assert main(_index_args(folder, idx)) == 0
    shutil.copy(third, folder / "cat.jpg")
    capsys.readouterr()
    assert main([*_index_args(folder, idx), "--update"]) == 0
    assert "1 embedded now" in capsys.readouterr().err
    assert main(["search", str(idx), "--image", str(third), "-k", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["1", "1.0000", "cat.jpg"]
    capsys.readouterr()
    assert main([*_index_args(folder, idx), "--update"]) == 0  # nothing changed since: nothing embedded
    assert "0 embedded now" in capsys.readouterr().err


def test_update_of_a_moved_folder_records_where_the_photos_are_now(hashed_backend, tmp_path, capsys):
    # The ids (paths relative to the folder) still matched, so metadata["path"] kept pointing
    # into the old folder, which serve's thumbnails read (review finding 3b).
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    first, second = sample_photos()[:2]
    shutil.copy(first, folder / first.name)
    shutil.copy(second, folder / "sub" / second.name)
    idx = tmp_path / "p.idx"
    assert main(_index_args(folder, idx)) == 0
    vectors = {i: np.asarray(load_index(idx).vector(i)) for i in load_index(idx).ids}
    moved = folder.rename(tmp_path / "Pictures")
    capsys.readouterr()
    assert main([*_index_args(moved, idx), "--update"]) == 0
    assert "0 embedded now" in capsys.readouterr().err  # same bytes: no embedding paid for again
    index = load_index(idx)
    for id_ in index.ids:
        meta = index.metadata(id_)
        assert meta["path"] == str(moved / id_) and Path(meta["path"]).is_file()
        assert np.array_equal(np.asarray(index.vector(id_)), vectors[id_])


def _tag(idx: Path, id_: str, **extra) -> None:
    index = load_index(idx)
    index.set_metadata([id_], [{**index.metadata(id_), **extra}])
    index.save(idx)


def test_update_of_a_photo_whose_time_alone_changed_embeds_nothing_and_keeps_its_tags(hashed_backend, tmp_path,
                                                                                      capsys):
    # A touched photo (a viewer, a copy without -p, a sync tool) was embedded again, paid for on
    # a remote backend, and its row lost every key the index had not written (session_diff F6).
    folder = tmp_path / "photos"
    folder.mkdir()
    first, second, third = sample_photos()[:3]
    shutil.copy(first, folder / "cat.jpg")
    shutil.copy(second, folder / "b.jpg")
    idx = tmp_path / "p.idx"
    assert main(_index_args(folder, idx)) == 0
    vector = np.asarray(load_index(idx).vector("cat.jpg"))
    _tag(idx, "cat.jpg", tags=["beach", "2024"])
    later = (folder / "cat.jpg").stat().st_mtime_ns + 5_000_000_000
    os.utime(folder / "cat.jpg", ns=(later, later))
    capsys.readouterr()

    assert main([*_index_args(folder, idx), "--update"]) == 0
    assert "0 embedded now" in capsys.readouterr().err
    index = load_index(idx)
    meta = index.metadata("cat.jpg")
    assert meta["tags"] == ["beach", "2024"] and meta["mtime_ns"] == later  # the new time recorded: not hashed again
    assert np.array_equal(np.asarray(index.vector("cat.jpg")), vector)

    shutil.copy(third, folder / "cat.jpg")  # other bytes: embedded again, and the tags stay
    capsys.readouterr()
    assert main([*_index_args(folder, idx), "--update"]) == 0
    assert "1 embedded now" in capsys.readouterr().err
    meta = load_index(idx).metadata("cat.jpg")
    assert meta["tags"] == ["beach", "2024"]
    assert meta["sha256"] == hashlib.sha256(third.read_bytes()).hexdigest()
    assert meta["size"] == third.stat().st_size


def test_update_of_a_row_without_a_hash_embeds_a_touched_photo_again_keeping_its_tags(hashed_backend, tmp_path,
                                                                                      capsys):
    # An index saved before rows recorded the photo's SHA-256 cannot tell a touch from an edit.
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photos()[0], folder / "cat.jpg")
    idx = tmp_path / "p.idx"
    assert main(_index_args(folder, idx)) == 0
    index = load_index(idx)
    old_row = {k: v for k, v in index.metadata("cat.jpg").items() if k != "sha256"}
    index.set_metadata(["cat.jpg"], [{**old_row, "rating": 5}])
    index.save(idx)
    later = (folder / "cat.jpg").stat().st_mtime_ns + 5_000_000_000
    os.utime(folder / "cat.jpg", ns=(later, later))
    capsys.readouterr()
    assert main([*_index_args(folder, idx), "--update"]) == 0
    assert "1 embedded now" in capsys.readouterr().err
    meta = load_index(idx).metadata("cat.jpg")
    assert meta["rating"] == 5 and meta["mtime_ns"] == later and "sha256" in meta
    capsys.readouterr()
    assert main([*_index_args(folder, idx), "--update"]) == 0  # the row has its hash now: nothing to do
    assert "0 embedded now" in capsys.readouterr().err


def test_an_empty_out_folder_takes_a_new_index_with_or_without_update(hashed_backend, tmp_path, capsys):
    # An empty --out (a mounted volume) was refused without --update, and with it (review finding 8).
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photos()[0], folder / "a.jpg")
    for n, extra in enumerate(([], ["--update"])):
        idx = tmp_path / f"mounted{n}.idx"
        idx.mkdir()
        assert main([*_index_args(folder, idx), *extra]) == 0
        assert load_index(idx).ids == ["a.jpg"]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("not an index")
    assert main(_index_args(folder, tmp_path / "full")) == 2  # a folder that holds something else
    assert "exists; pass --update" in capsys.readouterr().err


def test_update_with_the_index_folder_as_the_working_directory_saves(hashed_backend, tmp_path, capsys, monkeypatch):
    # --out . failed with EBUSY after all the embedding: the save swapped "." (review finding 9).
    folder = tmp_path / "photos"
    folder.mkdir()
    first, second = sample_photos()[:2]
    shutil.copy(first, folder / first.name)
    idx = tmp_path / "p.idx"
    assert main(_index_args(folder, idx)) == 0
    shutil.copy(second, folder / second.name)
    monkeypatch.chdir(idx)
    assert main(["index", str(folder), "--out", ".", "--backend", "hashed", "--dimension", "128", "--no-progress",
                 "--update"]) == 0
    monkeypatch.chdir(tmp_path)
    assert sorted(load_index(idx).ids) == sorted([first.name, second.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.idx", "photos"]
