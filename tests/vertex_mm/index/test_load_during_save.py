"""A load that runs while another writer saves over the same path reads one version whole:
never one version's ids with the other's vectors, never a false "damaged" error (review finding 1).

The other writer's save is made to land at the worst moment: just as the loader opens a file of
the index, after it has read the manifest (and, for items.jsonl, mapped the vectors)."""

from __future__ import annotations

import builtins
import os

import numpy as np
import pytest

from vertex_mm.index import FaissIndex, FlatIndex, IndexCorruptedError, load_index

N = 40


def _version(cls, space, make_vectors, tag: str, seed: int):
    index = cls(space)
    index.add([f"{tag}{i}" for i in range(N)], make_vectors(N, seed=seed), [{"v": tag} for _ in range(N)])
    return index


def _save_when_opened(monkeypatch, name: str, save) -> list[str]:
    """Run ``save()`` once, the first time the loader opens a file called ``name``, by name or
    relative to a folder (both open routes are patched: old and new loaders use either)."""
    fired: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def before(path: object) -> None:
        if not fired and os.path.basename(os.fsdecode(path)) == name:  # type: ignore[arg-type]
            fired.append(name)
            save()

    def os_open(path, flags, mode=0o777, *, dir_fd=None):
        before(path)
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    def open_(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)):
            before(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    return fired


@pytest.mark.parametrize("cls", [FlatIndex, FaissIndex])
@pytest.mark.parametrize("name", ["vectors.npy", "items.jsonl"])
@pytest.mark.parametrize("verify", [True, False])
def test_a_save_during_a_load_gives_one_version_whole(tmp_path, space, make_vectors, monkeypatch, cls, name, verify):
    if cls is FaissIndex:
        pytest.importorskip("faiss")
    a = _version(cls, space, make_vectors, "a", seed=1)
    b = _version(cls, space, make_vectors, "b", seed=2)
    path = a.save(tmp_path / "idx")
    fired = _save_when_opened(monkeypatch, name, lambda: b.save(path))

    loaded = load_index(path, verify=verify)
    monkeypatch.undo()

    assert fired == [name]
    tag = loaded.ids[0][0]
    source = {"a": a, "b": b}[tag]
    assert sorted(loaded.ids) == sorted(source.ids)  # every id of one version
    for id_ in loaded.ids:  # each with that version's vector and metadata
        assert np.allclose(np.asarray(loaded.vector(id_)), np.asarray(source.vector(id_)))
        assert loaded.metadata(id_) == {"v": tag}
    q = make_vectors(1, seed=3)
    assert loaded.search(q, k=3).ids == source.search(q, k=3).ids


def test_a_damaged_file_still_fails_as_damaged(tmp_path, space, make_vectors):
    # The retry on a concurrent save must not hide real damage: nothing replaced the folder here.
    path = _version(FlatIndex, space, make_vectors, "a", seed=1).save(tmp_path / "idx")
    data = bytearray((path / "items.jsonl").read_bytes())
    data[10] ^= 1
    (path / "items.jsonl").write_bytes(bytes(data))
    with pytest.raises(IndexCorruptedError, match="SHA-256"):
        FlatIndex.load(path)
