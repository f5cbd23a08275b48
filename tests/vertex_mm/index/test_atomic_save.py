"""Saving over an index is one atomic swap (issue 11, L2): whatever interrupts a save, the path
holds the old index or the new one, and a load finds it. (SIGKILL at every step of a save is in
tests/vertex_mm/test_crash_safety.py; these are the in-process cases.)"""

from __future__ import annotations

import os
import shutil

import pytest

from vertex_mm import EmbeddingSpace
from vertex_mm.index import FlatIndex, MultiVectorIndex, load_index, persist
from vertex_mm.index.load import index_kind

DEAD_PID = 99_999_999  # above any pid_max: never a running process


@pytest.fixture
def two_versions(tmp_path, space, make_vectors):
    """An index saved at ``idx`` (ids a0..a9) and, in memory, its next version (b0..b4 added)."""
    index = FlatIndex(space)
    index.add([f"a{i}" for i in range(10)], make_vectors(10, seed=1))
    path = index.save(tmp_path / "idx")
    index.add([f"b{i}" for i in range(5)], make_vectors(5, seed=2))
    return index, path


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_an_interruption_after_the_first_rename_keeps_an_index_at_the_path(two_versions, monkeypatch):
    # The old save renamed the index away, then renamed the new one in: interrupted between the
    # two, it left only ".idx.old-*" and the next load failed.
    index, path = two_versions
    real_rename, calls = os.rename, []

    def rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    try:
        index.save(path)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert len(load_index(path)) in (10, 15)
    assert _siblings(path) == []


def test_saving_over_an_index_exchanges_the_directories_in_one_step(two_versions, monkeypatch):
    index, path = two_versions
    monkeypatch.setattr(os, "rename", lambda *a: pytest.fail("a rename pair is not atomic"))
    index.save(path)
    assert len(load_index(path)) == 15 and _siblings(path) == []


def test_without_an_atomic_exchange_an_error_between_the_renames_puts_the_old_index_back(two_versions, monkeypatch):
    index, path = two_versions
    monkeypatch.setattr(persist, "_exchange", lambda a, b: False)

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(persist, "_between_renames", interrupted)
    with pytest.raises(KeyboardInterrupt):
        index.save(path)
    assert len(load_index(path)) == 10 and _siblings(path) == []
    monkeypatch.setattr(persist, "_between_renames", lambda: None)
    index.save(path)
    assert len(load_index(path)) == 15 and _siblings(path) == []


def _crashed_between_renames(index, path, *, new_complete: bool):
    """The folders a two-rename save leaves when killed between its renames."""
    old = path.parent / f".idx.old-{DEAD_PID}-0123abcd"
    path.rename(old)
    new = index.save(path.parent / "next")
    if not new_complete:
        (new / "manifest.json").unlink()
    new.rename(path.parent / f".idx.tmp-{DEAD_PID}-89abcdef")


@pytest.mark.parametrize(("new_complete", "count"), [(True, 15), (False, 10)])
def test_a_load_finds_the_complete_version_when_a_two_rename_save_was_killed(two_versions, new_complete, count):
    index, path = two_versions
    _crashed_between_renames(index, path, new_complete=new_complete)
    assert not path.exists()
    loaded = load_index(path)
    assert len(loaded) == count and loaded.path == path
    assert len(FlatIndex.load(path)) == count and index_kind(path) == "flat"
    loaded.save(path)  # the next save puts the index back at its path and clears the rest
    assert len(load_index(path)) == count and _siblings(path) == []


def test_a_multi_vector_index_is_found_the_same_way(tmp_path, ragged_pages):
    idx = MultiVectorIndex(EmbeddingSpace("test", "mv", 32))
    idx.add("a", ragged_pages[:3])
    path = idx.save(tmp_path / "idx")
    path.rename(tmp_path / f".idx.old-{DEAD_PID}-0123abcd")
    again = MultiVectorIndex.load(path)
    assert again.doc_ids() == ["a"] and again.path == path
    again.add("b", ragged_pages[3:5])
    again.save()
    assert MultiVectorIndex.load(path).doc_ids() == ["a", "b"] and _siblings(path) == []


def test_the_next_save_removes_what_a_killed_save_left_but_not_what_a_running_one_writes(two_versions):
    index, path = two_versions
    dead = path.parent / f".idx.tmp-{DEAD_PID}-0123abcd"
    live = path.parent / f".idx.tmp-{os.getppid()}-0123abcd"  # our parent: a writer that still runs
    other = path.parent / f".other.tmp-{DEAD_PID}-0123abcd"  # another index's: not ours to remove
    for folder in (dead, live, other):
        shutil.copytree(path, folder)
    index.save(path)
    assert _siblings(path) == sorted([live.name, other.name])


def test_a_missing_index_without_leftovers_is_still_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_index(tmp_path / "nope")
    assert index_kind(tmp_path / "nope") is None
