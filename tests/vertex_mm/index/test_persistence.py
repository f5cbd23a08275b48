"""Saving and loading: one directory, memory-mapped vectors, and loud failure on damage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vertex_mm import EmbeddingSpace
from vertex_mm.index import (
    BaseIndex,
    FlatIndex,
    IndexCorruptedError,
    IndexVersionError,
    load_index,
)
from vertex_mm.index.manifest import FORMAT_VERSION, WRITTEN_VERSION


@pytest.fixture
def saved(tmp_path, space, make_vectors):
    index = FlatIndex(space)
    index.add([f"p{i}" for i in range(300)], make_vectors(300, seed=1), [{"i": i, "tag": ["x"]} for i in range(300)])
    path = index.save(tmp_path / "photos.idx")
    return index, path


def test_roundtrip_gives_identical_answers(saved, make_vectors):
    index, path = saved
    loaded = load_index(path)
    q = make_vectors(6, seed=2)
    a, b = index.search(q, k=8), loaded.search(q, k=8)
    assert a.ids == b.ids
    np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.metadata("p17") == {"i": 17, "tag": ["x"]}
    assert isinstance(loaded, FlatIndex) and loaded.space == index.space


def test_layout_is_one_directory_with_a_manifest(saved, space):
    _, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["items.jsonl", "manifest.json", "vectors.npy"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "vertex-mm-index"
    assert manifest["format_version"] == WRITTEN_VERSION  # readable by every release since format 2
    assert (manifest["space"], manifest["dimension"], manifest["count"]) == (space.id, 32, 300)
    assert manifest["kind"] == "flat" and manifest["dtype"] == "float32"
    assert set(manifest["files"]) == {"items.jsonl", "vectors.npy"}
    assert all(len(rec["sha256"]) == 64 for rec in manifest["files"].values())
    assert np.load(path / "vectors.npy").shape == (300, 32)


def test_vectors_are_memory_mapped_on_load(saved):
    loaded = load_index(saved[1])
    assert loaded._store.is_memory_mapped
    assert not load_index(saved[1], mmap=False)._store.is_memory_mapped


def test_a_loaded_index_accepts_writes_without_touching_its_files(saved, make_vectors):
    _, path = saved
    before = (path / "vectors.npy").read_bytes()
    loaded = load_index(path)
    loaded.upsert(["p0"], make_vectors(1, seed=50))
    loaded.add(["new"], make_vectors(1, seed=51))
    loaded.delete(["p1"])
    assert (path / "vectors.npy").read_bytes() == before
    assert len(loaded) == 300 and "new" in loaded and "p1" not in loaded


def test_saving_back_to_the_loaded_path_replaces_it(saved, make_vectors):
    _, path = saved
    loaded = load_index(path)
    loaded.delete(["p5"])
    loaded.add(["z"], make_vectors(1, seed=60))
    loaded.save(path)
    again = load_index(path)
    assert len(again) == 300 and "p5" not in again and "z" in again
    assert [p.name for p in path.parent.iterdir()] == ["photos.idx"]  # no temp or old folders left


def test_saving_through_a_symlink_writes_where_it_points_and_keeps_the_link(saved, make_vectors, tmp_path):
    # The swap replaced the link with a folder: the index it pointed to (on another disk, say)
    # went stale, and the next run through the link read the copy.
    _, path = saved
    link = tmp_path / "current.idx"
    link.symlink_to(path, target_is_directory=True)
    loaded = load_index(link)
    loaded.add(["z"], make_vectors(1, seed=61))
    loaded.save(link)
    assert link.is_symlink() and "z" in load_index(path)


def test_save_compacts_deleted_rows_and_keeps_order(saved, tmp_path):
    index, _ = saved
    index.delete([f"p{i}" for i in range(0, 300, 2)])
    out = index.save(tmp_path / "compact.idx")
    loaded = load_index(out)
    assert loaded.ids == [f"p{i}" for i in range(1, 300, 2)]
    assert np.load(out / "vectors.npy").shape == (150, 32)


def test_empty_index_roundtrips(tmp_path, space, make_vectors):
    path = FlatIndex(space).save(tmp_path / "empty.idx")
    loaded = load_index(path)
    assert len(loaded) == 0 and loaded.search(make_vectors(1), k=3)[0] == []


def test_truncated_vectors_are_detected(saved):
    _, path = saved
    data = (path / "vectors.npy").read_bytes()
    (path / "vectors.npy").write_bytes(data[: len(data) - 4 * 32])
    with pytest.raises(IndexCorruptedError, match="vectors.npy: truncated"):
        load_index(path)
    with pytest.raises(IndexCorruptedError, match="truncated"):
        load_index(path, verify=False)  # sizes are checked even without checksums


def test_a_flipped_byte_is_caught_by_the_checksum(saved):
    _, path = saved
    data = bytearray((path / "vectors.npy").read_bytes())
    data[-100] ^= 0x40
    (path / "vectors.npy").write_bytes(bytes(data))
    with pytest.raises(IndexCorruptedError, match="SHA-256"):
        load_index(path)


def test_edited_items_are_caught(saved):
    _, path = saved
    text = (path / "items.jsonl").read_text().replace('"p7"', '"p8"')
    (path / "items.jsonl").write_text(text)
    with pytest.raises(IndexCorruptedError, match="items.jsonl"):
        load_index(path)


def test_missing_file_is_named(saved):
    _, path = saved
    (path / "items.jsonl").unlink()
    with pytest.raises(IndexCorruptedError, match="items.jsonl: missing"):
        load_index(path)


def test_a_half_written_index_without_manifest_is_refused(saved):
    _, path = saved
    (path / "manifest.json").unlink()
    with pytest.raises(IndexCorruptedError, match="save did not finish"):
        load_index(path)


def test_garbled_manifest_is_refused(saved):
    _, path = saved
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptedError, match="unreadable manifest"):
        load_index(path)


def test_manifest_count_disagreeing_with_the_files_is_caught(saved):
    _, path = saved
    m = json.loads((path / "manifest.json").read_text())
    m["count"] = 299
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexCorruptedError, match=r"manifest says float32 \(299, 32\)"):
        load_index(path)


def test_a_newer_format_version_asks_for_an_upgrade(saved):
    _, path = saved
    m = json.loads((path / "manifest.json").read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexVersionError, match="upgrade vertex-mm"):
        load_index(path)


def test_missing_directory_is_a_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "nope")


def test_save_refuses_to_replace_a_folder_that_is_not_an_index(tmp_path, space):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"...")
    with pytest.raises(FileExistsError, match="not a vertex-mm index"):
        FlatIndex(space).save(folder)
    assert (folder / "cat.jpg").exists()


def test_space_survives_the_roundtrip_with_its_variant(tmp_path, make_vectors):
    sp = EmbeddingSpace("local", "conse-effnet-minilm", 32, "k10_orth384to32s1")
    index = FlatIndex(sp)
    index.add(["a"], make_vectors(1, sp=sp))
    assert BaseIndex.load(index.save(tmp_path / "v.idx")).space == sp


def test_an_index_of_format_version_1_still_loads(saved):
    # Version 1 named the kind "backend"; indexes saved then stay readable.
    _, path = saved
    m = json.loads((path / "manifest.json").read_text())
    m["format_version"], m["backend"] = 1, m.pop("kind")
    (path / "manifest.json").write_text(json.dumps(m))
    assert isinstance(load_index(path), FlatIndex) and len(load_index(path)) == 300


def test_saving_onto_a_file_is_a_typed_error_and_the_file_is_kept(tmp_path):
    from vertex_mm.errors import InputError, OutputPathError

    taken = tmp_path / "taken.idx"
    taken.write_text("my notes")
    index = FlatIndex(EmbeddingSpace("hashed", "m", 4))
    with pytest.raises(OutputPathError, match="is a file, not an index folder") as err:
        index.save(taken)
    assert isinstance(err.value, InputError) and isinstance(err.value, FileExistsError)
    assert taken.read_text() == "my notes"
