"""A load that runs while another writer saves over the same path reads one version whole:
never one version's ids with the other's vectors, never a false "damaged" error (review finding 1;
for the multi-vector index, finding F11 of the session_diff review).

The other writer's save is made to land at the worst moment: just as the loader opens a file of
the index, after it has read the manifest (and, for items.jsonl, mapped the vectors)."""

from __future__ import annotations

import builtins
import os

import numpy as np
import pytest

from vertex_mm.index import FaissIndex, FlatIndex, IndexCorruptedError, MultiVectorIndex, load_index
from vertex_mm.index._fde import sidecar_name
from vertex_mm.late_interaction.muvera import MuveraConfig
from vertex_mm.results import EmbeddingSpace

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


MV_SPACE = EmbeddingSpace("test", "rand-mv", 32)
MUVERA = MuveraConfig(dimension=32, k_sim=3, repetitions=8, d_proj=8, seed=5)


def _pages_version(tag: str, seed: int, docs: int) -> MultiVectorIndex:
    """A multi-vector index (binary codes, MUVERA sidecars, screened copies where torch is) whose
    documents are named after ``tag``; versions of other ``docs`` have segments of other shapes."""
    rng = np.random.default_rng(seed)
    index = MultiVectorIndex(MV_SPACE, muvera=MUVERA)
    for d in range(docs):
        pages = [rng.standard_normal((int(rng.integers(5, 12)), 32)).astype(np.float32) for _ in range(2)]
        index.add(f"{tag}{d}", [p / np.linalg.norm(p, axis=1, keepdims=True) for p in pages])
    return index


def _hits(index: MultiVectorIndex, queries: list[np.ndarray], **kw) -> list[list[str]]:
    return [[h.page_id for h in q] for q in index.search(queries, k=3, **kw)]


def _mv_queries() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [q / np.linalg.norm(q, axis=1, keepdims=True) for q in (rng.standard_normal((4, 32)).astype(np.float32)
                                                                   for _ in range(3))]


@pytest.mark.parametrize("name", ["manifest.json", "tokens.npy", "codes.npy", "pages.jsonl", sidecar_name(MUVERA)])
@pytest.mark.parametrize("verify", [True, False])
def test_a_save_during_a_multivector_load_gives_one_version_whole(tmp_path, monkeypatch, name, verify):
    a, b = _pages_version("a", seed=1, docs=6), _pages_version("b", seed=2, docs=7)
    path = a.save(tmp_path / "pages")
    fired = _save_when_opened(monkeypatch, name, lambda: b.save(path))

    loaded = load_index(path, verify=verify)
    monkeypatch.undo()

    assert fired == [name]
    source = {"a": a, "b": b}[loaded.doc_ids()[0][0]]
    assert loaded.doc_ids() == source.doc_ids()
    for (row, page), (want_row, want_page) in zip(loaded.iter_pages(), source.iter_pages(), strict=True):
        assert row == want_row
        assert np.array_equal(page, want_page)
    q = _mv_queries()
    for mode in ("exact", "binary", "muvera"):
        assert _hits(loaded, q, mode=mode) == _hits(source, q, mode=mode)


def test_a_loaded_multivector_index_reads_its_own_sidecars_after_a_save_replaced_the_folder(tmp_path):
    # Sidecars are read at the first search that needs them, after the load: by then a save may
    # have removed the loaded version's folder, and its path names another version's files.
    a, b = _pages_version("a", seed=1, docs=6), _pages_version("b", seed=2, docs=7)
    path = a.save(tmp_path / "pages")
    loaded = load_index(path)
    b.save(path)

    q = _mv_queries()
    assert _hits(loaded, q, mode="muvera", candidates=2) == _hits(a, q, mode="muvera", candidates=2)
    loaded.screen_pages_per_k = 0  # screen every segment: reads the saved screened copy
    assert _hits(loaded, q) == _hits(a, q, mode="exact")


def test_a_damaged_segment_file_still_fails_as_damaged(tmp_path):
    path = _pages_version("a", seed=1, docs=3).save(tmp_path / "pages")
    target = path / "seg-000001" / "pages.jsonl"
    data = bytearray(target.read_bytes())
    data[5] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptedError, match="SHA-256"):
        MultiVectorIndex.load(path)


@pytest.mark.parametrize("change", ["compact", "add"])
def test_a_multivector_save_in_place_during_a_load_gives_one_version_whole(tmp_path, monkeypatch, change):
    # In place, a save adds a segment and replaces the manifest, and compact() then removes the
    # segments the old manifest named: a load that read the old manifest must read the new one.
    path = _pages_version("a", seed=1, docs=4).save(tmp_path / "pages")
    writer = MultiVectorIndex.load(path)
    writer.save()
    writer.add("a4", [np.eye(32, dtype=np.float32)[:3]])  # a second segment, so compact() has work
    writer.save()
    writer.delete("a0")

    def save() -> None:
        if change == "compact":
            writer.compact()
        else:
            writer.add("a5", [np.eye(32, dtype=np.float32)[3:6]])
            writer.save()

    before = MultiVectorIndex.load(path)
    fired = _save_when_opened(monkeypatch, "tokens.npy", save)
    loaded = load_index(path)
    monkeypatch.undo()

    assert fired == ["tokens.npy"]
    # compact() removed the segments the load had begun to read: it must have read the new version.
    source = before if change == "add" and loaded.doc_ids() == before.doc_ids() else writer
    assert loaded.doc_ids() == source.doc_ids()
    q = _mv_queries()
    assert _hits(loaded, q, mode="exact") == _hits(source, q, mode="exact")
