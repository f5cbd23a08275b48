"""The multi-vector page index: add/delete by document, save/load on the index family's one
persistence (manifest of kind "multivector", checksums), memory maps, integrity checks."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from vertex_mm.errors import EmbeddingSpaceMismatchError, InputError
from vertex_mm.index import FlatIndex, IndexCorruptedError, IndexKindError, IndexVersionError, MultiVectorIndex, load_index
from vertex_mm.late_interaction import maxsim_reference
from vertex_mm.results import EmbeddingSpace

SPACE = EmbeddingSpace("test", "rand-mv", 32)


def _docs(ragged_pages):
    return {"a.pdf": ragged_pages[:10], "b.pdf": ragged_pages[10:25], "c.pdf": ragged_pages[25:]}


@pytest.fixture
def index(tmp_path, ragged_pages):
    idx = MultiVectorIndex(SPACE, dtype="float32")
    idx.save(tmp_path / "idx")
    for doc, pages in _docs(ragged_pages).items():
        idx.add(doc, pages, metadata=[{"width": 100 + i} for i in range(len(pages))])
    idx.save()
    return idx


def test_search_returns_doc_page_and_exact_maxsim(index, ragged_pages, queries):
    hits = index.search(queries, k=3)
    expected = maxsim_reference(queries, ragged_pages)
    for q_hits, row in zip(hits, expected):
        best = np.argsort(-row)[:3]
        assert [h.score for h in q_hits] == pytest.approx(row[best].tolist(), abs=1e-5)
    first = hits[0][0]
    assert first.doc_id in {"a.pdf", "b.pdf", "c.pdf"} and first.page_number >= 1 and "width" in first.metadata
    assert first.page_id == f"{first.doc_id}#{first.page_number}" == first.key


def test_given_page_ids_are_kept(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE)
    idx.add("scan-7", ragged_pages[:1], page_ids=["scan-7"])
    assert idx.page_ids() == ["scan-7"]
    idx.save(tmp_path / "one")
    assert MultiVectorIndex.load(tmp_path / "one").search(queries, k=1)[0][0].page_id == "scan-7"


def test_reopened_index_is_memory_mapped_and_answers_the_same(index, queries, tmp_path):
    before = index.search(queries, k=5)
    again = load_index(tmp_path / "idx")
    assert isinstance(again, MultiVectorIndex)
    seg = again._segments[0]
    assert isinstance(seg.pages.tokens, np.memmap)
    assert again.search(queries, k=5) == before
    assert again.space == SPACE and len(again) == 40 and again.doc_ids() == ["a.pdf", "b.pdf", "c.pdf"]
    assert again.dimension == 32 and again.dtype == "float32"


def test_manifest_is_the_index_familys_with_kind_multivector(index, tmp_path):
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format"] == "vertex-mm-index" and manifest["kind"] == "multivector"
    assert (manifest["space"], manifest["dimension"], manifest["count"]) == (SPACE.id, 32, 40)
    from vertex_mm.index._screen import SCREEN_PAIRS
    from vertex_mm.late_interaction.screened import screen_kind

    # The screened pair of the screen this machine runs (bfloat16 where none does).
    files = ("tokens.npy", "offsets.npy", "codes.npy", "pages.jsonl", *SCREEN_PAIRS[screen_kind() or "bfloat16"])
    assert set(manifest["files"]) == {f"seg-000001/{f}" for f in files}
    assert all(len(rec["sha256"]) == 64 for rec in manifest["files"].values())


def test_saving_elsewhere_writes_one_segment_and_the_original_is_untouched(index, tmp_path, queries):
    before = index.search(queries, k=5)
    index.save(tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir() if p.is_dir()) == ["seg-000002"]
    assert MultiVectorIndex.load(tmp_path / "copy").search(queries, k=5) == before
    assert MultiVectorIndex.load(tmp_path / "idx").search(queries, k=5) == before


def test_an_unsaved_index_needs_a_path(ragged_pages):
    idx = MultiVectorIndex(SPACE)
    idx.add("a", ragged_pages[:2])
    with pytest.raises(InputError, match="save\\(path\\)"):
        idx.save()


def test_each_kind_refuses_the_others_directory(index, tmp_path, make_vectors):
    flat = FlatIndex(make_vectors(1).space)
    flat.add(["x"], make_vectors(1))
    flat.save(tmp_path / "flat")
    with pytest.raises(IndexKindError, match="'flat'"):
        MultiVectorIndex.load(tmp_path / "flat")
    with pytest.raises(IndexKindError, match="'multivector'"):
        FlatIndex.load(tmp_path / "idx")


def _keys(hits):
    return [[h.key for h in q] for q in hits]


def test_binary_mode_with_all_candidates_matches_float_mode(index, queries):
    binary, exact = index.search(queries, k=4, mode="binary", candidates=40), index.search(queries, k=4)
    assert _keys(binary) == _keys(exact)
    # Same float32 MaxSim; only the GEMM shape (one query vs all) may change the last bit.
    assert [h.score for q in binary for h in q] == pytest.approx([h.score for q in exact for h in q], abs=1e-5)


@pytest.mark.parametrize("mode", ["exact", "screened", "binary", "muvera"])
def test_a_zero_padded_query_batch_ranks_as_its_queries(index, queries, mode):
    # A ColPali forward pass returns (Q, n_max, d) padded with zeros. The index kept the padding
    # as query tokens, and in binary mode each zero token added a page-dependent distance.
    padded = np.zeros((len(queries), max(len(q) for q in queries) + 20, queries[0].shape[1]), np.float32)
    for i, q in enumerate(queries):
        padded[i, :len(q)] = q
    options = {} if mode in ("exact", "screened") else {"candidates": 6}
    assert _keys(index.search(padded, k=5, mode=mode, **options)) == _keys(index.search(queries, k=5, mode=mode, **options))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_searches_after_its_parent_did(tmp_path):
    # GNU OpenMP does not survive fork: the child's first multi-threaded torch product (the
    # binary rerank) waited forever. multiprocessing forks by default on Linux.
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    idx = MultiVectorIndex(EmbeddingSpace("test", "rand-mv", 128))
    idx.screen_pages_per_k = 0
    for i in range(600):
        idx.add(f"d{i}", [rng.standard_normal((20, 128)).astype(np.float16)])
    queries = [rng.standard_normal((10, 128)).astype(np.float32) for _ in range(6)]
    want = {m: _keys(idx.search(queries, k=5, mode=m)) for m in ("screened", "binary", "exact")}
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a hang ends the child (no Python handler needed),
        signal.alarm(60)  # and the test fails on its status
        same = all(_keys(idx.search(queries, k=5, mode=m)) == w for m, w in want.items())
        os._exit(0 if same else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_delete_removes_a_document_from_results_and_survives_reopen(index, queries, tmp_path):
    assert index.delete("b.pdf") == 15
    index.save()
    again = MultiVectorIndex.load(tmp_path / "idx")
    for mode in ("float", "binary"):
        hits = again.search(queries, k=40, mode=mode, candidates=40)
        assert all(h.doc_id != "b.pdf" for q in hits for h in q)
        assert all(len(q) == 25 for q in hits)


def test_compact_drops_deleted_pages_and_merges_segments(index, ragged_pages, queries, tmp_path):
    index.add("d.pdf", ragged_pages[:3])
    index.save()
    index.delete("a.pdf")
    before = index.search(queries, k=5)
    index.compact()
    assert index.stats()["segments"] == 1 and index.stats()["stored_pages"] == 33
    assert MultiVectorIndex.load(tmp_path / "idx").search(queries, k=5) == before
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["manifest.json", "seg-000003"]


def test_pages_are_searchable_before_they_are_saved(tmp_path, ragged_pages, queries):
    idx = MultiVectorIndex(SPACE)
    idx.save(tmp_path / "p")
    idx.add("x", ragged_pages[:4])
    assert len(idx.search(queries, k=10)[0]) == 4
    assert MultiVectorIndex.load(tmp_path / "p").stats()["pages"] == 0  # nothing written yet


def test_duplicate_document_needs_replace(index, ragged_pages):
    with pytest.raises(InputError, match="already indexed"):
        index.add("a.pdf", ragged_pages[:2])
    index.add("a.pdf", ragged_pages[:2], replace=True)
    assert len(index) == 32


def test_failed_replace_keeps_the_old_pages(index):
    with pytest.raises(InputError, match="dimension"):
        index.add("a.pdf", [np.ones((3, 8), np.float32)], replace=True)
    assert "a.pdf" in index and len(index) == 40


def test_values_beyond_float16_are_refused_before_anything_changes(tmp_path, ragged_pages, queries):
    # float16 ends at 65504: cast, 7e4 became inf, stored, and every later search refused the index.
    idx = MultiVectorIndex(SPACE)  # float16 storage
    idx.add("a.pdf", ragged_pages[:3])
    before = idx.search(queries, k=3)
    big = [ragged_pages[3], np.full((4, 32), 7e4, np.float32)]
    for doc, replace in (("b.pdf", False), ("a.pdf", True)):
        with pytest.raises(InputError, match=f"document '{doc}' page 2 has values up to 70000, beyond float16's range"):
            idx.add(doc, big, replace=replace)
    assert idx.doc_ids() == ["a.pdf"] and len(idx) == 3
    assert idx.search(queries, k=3) == before
    idx.add("c.pdf", [np.full((4, 32), 65519.0, np.float32)])  # rounds to 65504: kept
    idx.save(tmp_path / "idx")
    assert len(MultiVectorIndex.load(tmp_path / "idx")) == 4


def test_values_beyond_float32_are_refused():
    from vertex_mm.late_interaction import PackedPages

    with pytest.raises(InputError, match="page #1 has values up to 1e\\+39, beyond float32's range"):
        PackedPages.from_list([np.ones((2, 3)), np.full((2, 3), -1e39)])
    with pytest.raises(InputError, match="pages has values up to 70000"):
        PackedPages.from_list([np.full((2, 3), 7e4, np.float32)]).astype(np.float16)


@pytest.mark.parametrize("bad, message", [
    ({"metadata": [{"a": 1}, None, 3]}, "page 3: metadata must be a dict, got int"),
    ({"metadata": [{}, {"when": object()}, {}]}, "page 2: metadata is not JSON-serialisable"),
    ({"metadata": [{}, {"x": float("nan")}, {}]}, "page 2: metadata is not JSON-serialisable"),
    ({"metadata": [{1: "a", "b": 2}, {}, {}]}, "page 1: metadata is not JSON-serialisable"),
    ({"page_numbers": [1, "x", 3]}, "page numbers must be integers, got 'x'"),
    ({"page_numbers": [1, True, 3]}, "page numbers must be integers, got True"),
    ({"page_ids": ["p1", "", "p3"]}, "page ids must be non-empty strings"),
    ({"page_ids": ["p1", "p1", "p3"]}, "page id 'p1' is already taken twice in this document"),
    ({"page_ids": ["p1", "b.pdf#2", "p3"]}, "page id 'b.pdf#2' is already taken by a page of 'b.pdf'"),
])
def test_a_bad_page_row_changes_nothing(index, ragged_pages, queries, bad, message):
    # Rows were checked only when saved: a failed replace had deleted the old pages and kept some
    # new ones, and a row json could not write failed every save after it.
    before = (index.page_ids(), index.search(queries, k=3))
    for replace in (False, True):
        with pytest.raises(InputError, match=message):
            index.add("c.pdf" if replace else "new.pdf", ragged_pages[:3], replace=replace, **bad)
        assert (index.page_ids(), index.search(queries, k=3)) == before
    index.save()
    assert MultiVectorIndex.load(index.path).page_ids() == before[0]


def test_metadata_is_kept_as_a_saved_index_reads_it(index, ragged_pages):
    meta = {"tags": ["x"], "by_page": {7: "seven"}}
    index.add("d.pdf", ragged_pages[:1], metadata=[meta])
    meta["tags"].append("changed later")  # a copy was kept
    index.save()
    want = {"tags": ["x"], "by_page": {"7": "seven"}}
    hit = [h for h in index.search([ragged_pages[0]], k=40)[0] if h.doc_id == "d.pdf"][0]
    assert hit.metadata == want
    hit = [h for h in MultiVectorIndex.load(index.path).search([ragged_pages[0]], k=40)[0] if h.doc_id == "d.pdf"][0]
    assert hit.metadata == want


def test_a_replaced_document_may_keep_its_page_ids(index, ragged_pages):
    index.add("a.pdf", ragged_pages[:2], replace=True)  # a.pdf#1 and a.pdf#2 again
    assert sorted(i for i in index.page_ids() if i.startswith("a.pdf")) == ["a.pdf#1", "a.pdf#2"]
    index.delete("a.pdf")
    index.add("z.pdf", ragged_pages[:1], page_ids=["a.pdf#1"])  # free again once deleted


def test_a_failed_manifest_write_keeps_the_pages_pending_once(index, ragged_pages, monkeypatch):
    # The segment was attached before the manifest was written: a failed write left it in memory,
    # and the next save wrote the same pages again (each page twice on disk).
    from vertex_mm.index import _mv_persist

    real = _mv_persist.write_manifest

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    index.add("d.pdf", ragged_pages[:2])
    monkeypatch.setattr(_mv_persist, "write_manifest", full_disk)
    with pytest.raises(OSError, match="No space"):
        index.save()
    assert len(index) == 42 and index.page_ids().count("d.pdf#1") == 1
    monkeypatch.setattr(_mv_persist, "write_manifest", real)
    index.save()
    reopened = MultiVectorIndex.load(index.path)
    assert len(reopened) == 42 and reopened.page_ids().count("d.pdf#1") == 1
    assert sorted(p.name for p in index.path.iterdir() if p.name.startswith("seg-")) == ["seg-000001", "seg-000002"]


def test_the_embedder_must_be_a_string(tmp_path):
    from pathlib import Path

    with pytest.raises(InputError, match="embedder must be a string"):
        MultiVectorIndex(SPACE, embedder=Path("/models/colpali"))  # type: ignore[arg-type]
    idx = MultiVectorIndex(SPACE, embedder="colpali:/models/colpali")
    with pytest.raises(InputError, match="embedder must be a string"):
        idx.embedder = None  # type: ignore[assignment]
    assert idx.embedder == "colpali:/models/colpali"


def test_other_space_is_refused(index, queries, ragged_pages):
    other = EmbeddingSpace("test", "other-model", 32)
    with pytest.raises(EmbeddingSpaceMismatchError):
        index.search(queries, space=other)
    with pytest.raises(EmbeddingSpaceMismatchError):
        index.add("z", ragged_pages[:1], space=other)


def test_flipped_byte_fails_the_checksum(index, tmp_path):
    tokens = tmp_path / "idx" / "seg-000001" / "tokens.npy"
    data = bytearray(tokens.read_bytes())
    data[-5] ^= 0xFF
    tokens.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptedError, match="SHA-256"):
        MultiVectorIndex.load(tmp_path / "idx")
    MultiVectorIndex.load(tmp_path / "idx", verify=False)  # sizes still match: opens when asked not to hash


def test_truncated_file_fails_even_without_hashing(index, tmp_path):
    codes = tmp_path / "idx" / "seg-000001" / "codes.npy"
    codes.write_bytes(codes.read_bytes()[:-8])
    with pytest.raises(IndexCorruptedError, match="bytes"):
        MultiVectorIndex.load(tmp_path / "idx", verify=False)


def test_newer_format_version_is_refused(index, tmp_path):
    manifest = tmp_path / "idx" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexVersionError, match="version 99"):
        MultiVectorIndex.load(tmp_path / "idx")


def test_an_index_of_the_retired_multivector_format_asks_to_reindex(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({"format": "vertex-mm-multivector-index", "version": 1}))
    with pytest.raises(IndexVersionError, match="index the documents again"):
        load_index(tmp_path / "old")


def test_pooled_index_stores_fewer_vectors(tmp_path, ragged_pages):
    idx = MultiVectorIndex(SPACE, pool_factor=2)
    idx.add("a", ragged_pages)
    idx.save(tmp_path / "pooled")
    stats = idx.stats()
    assert stats["tokens"] == sum(max(1, p.shape[0] // 2) for p in ragged_pages)
    assert MultiVectorIndex.load(tmp_path / "pooled").pool_factor == 2
