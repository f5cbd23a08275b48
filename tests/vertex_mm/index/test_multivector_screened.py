"""MultiVectorIndex mode="screened": the certified screens (bfloat16, and 16-bit integers where
the AVX2 kernel runs) answer bit for bit like the float32 scan (mode="exact"), with deletions,
across segments, after save/load and compaction; their per-segment copies are saved, verified
and rebuilt like every other segment file. Every test runs with each kind of screen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.index import IndexCorruptedError, MultiVectorIndex
from vertex_mm.index._screen import SCREEN_FILES, SCREEN_PAIRS
from vertex_mm.late_interaction.int16_screen import Int16Screen, int16_screen_available
from vertex_mm.late_interaction.screened import SCREEN_ENV, ScreenedPages, screen_kind
from vertex_mm.results import EmbeddingSpace

pytest.importorskip("torch")


@pytest.fixture(autouse=True, params=["bfloat16", "int16"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The screen is what these tests check: run each kind whatever the CPU (bfloat16 where it
    is emulated too, slower, with the same bits; the integer screen where its kernel runs)."""
    if request.param == "int16":
        if not int16_screen_available():
            pytest.skip("the integer screen's kernel needs an x86 CPU with AVX2 and numba")
        monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "0")
        monkeypatch.setenv(SCREEN_ENV, "int16")
    else:
        monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "1")
        monkeypatch.setenv(SCREEN_ENV, "bfloat16")  # auto picks int16 where its kernel runs (no AMX)
    return str(request.param)


def _count_screens(monkeypatch: pytest.MonkeyPatch, calls: list[int]) -> None:
    """Record the pages each screening scores, whichever kind runs."""
    bf16, int16 = ScreenedPages.screen_scores, Int16Screen.scores
    monkeypatch.setattr(ScreenedPages, "screen_scores", lambda self, *a, **kw: calls.append(len(self)) or bf16(self, *a, **kw))
    monkeypatch.setattr(Int16Screen, "scores", lambda self, *a, **kw: calls.append(len(self)) or int16(self, *a, **kw))

SPACE = EmbeddingSpace("test", "rand-mv", 32)


def _pages(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    out = []
    for length in rng.integers(3, 40, size=n):
        x = rng.standard_normal((int(length), 32)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def _queries(rng: np.random.Generator, pages: list[np.ndarray], n: int = 6) -> list[np.ndarray]:
    out = []
    for t in rng.choice(len(pages), size=n, replace=False):
        q = pages[t][rng.integers(0, len(pages[t]), size=int(rng.integers(1, 12)))]
        q = q + 0.3 * rng.standard_normal(q.shape).astype(np.float32)
        out.append((q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32))
    return out


def _index(rng: np.random.Generator, tmp_path, dtype: str = "float16") -> tuple[MultiVectorIndex, list[np.ndarray]]:
    """Three saved segments, one with a document deleted, plus pages not yet saved; some pages
    repeat across segments, so that equal scores test the tie order."""
    pages = _pages(rng, 120)
    idx = MultiVectorIndex(SPACE, dtype=dtype)
    idx.screen_pages_per_k = 0  # screen every segment, however small
    for d in range(4):
        idx.add(f"a{d}", pages[d * 10 : (d + 1) * 10])
    idx.save(tmp_path / "idx")
    for d in range(4):
        idx.add(f"b{d}", pages[40 + d * 10 : 50 + d * 10])
    idx.add("dup", pages[:5])  # the same vectors as a0's first pages: tied scores
    idx.save()
    idx.delete("a1")
    idx.delete("b2")
    idx.add("pending", pages[80:120])
    return idx, pages


def _same(idx: MultiVectorIndex, queries: list[np.ndarray], k: int) -> None:
    want = idx.search(queries, k=k, mode="exact")
    assert idx.search(queries, k=k, mode="screened") == want  # page ids, order and float32 scores
    assert idx.search(queries, k=k) == want  # the default mode
    assert idx.search(queries, k=k, mode="float") == want  # the old name of "exact"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_screened_is_bit_identical_to_the_float32_scan(tmp_path, seed, dtype):
    rng = np.random.default_rng(seed)
    idx, pages = _index(rng, tmp_path, dtype)
    queries = _queries(rng, pages)
    for k in (1, 5, 17):
        _same(idx, queries, k)
    idx.save()
    again = MultiVectorIndex.load(tmp_path / "idx")
    again.screen_pages_per_k = 0
    for k in (1, 5):
        _same(again, queries, k)
        assert again.search(queries, k=k) == idx.search(queries, k=k, mode="exact")
    again.compact()
    _same(again, queries, 5)
    _same(MultiVectorIndex.load(tmp_path / "idx"), queries, 5)


def test_the_screen_really_runs_and_reads_the_saved_copies(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    idx, pages = _index(rng, tmp_path)
    idx.save()
    calls: list[int] = []
    _count_screens(monkeypatch, calls)
    from vertex_mm.late_interaction import screened as screened_mod

    # Answers from the screen and its rescoring, not from a full scan after it.
    monkeypatch.setattr(screened_mod, "maxsim", lambda *a, **kw: pytest.fail("the screen fell back to the scan"))

    def refuse(*a, **kw):
        raise AssertionError("the screened copy was built again; the saved one should have been read")

    monkeypatch.setattr(ScreenedPages, "from_pages", refuse)
    again = MultiVectorIndex.load(tmp_path / "idx")
    again.screen_pages_per_k = 0
    queries = _queries(rng, pages)
    _same(again, queries, 4)
    assert sorted(set(calls)) == [40, 45]  # each saved segment (all rows, deleted ones masked)


def test_small_segments_are_scanned_exactly_by_default(tmp_path, monkeypatch):
    rng = np.random.default_rng(8)
    pages = _pages(rng, 30)
    idx = MultiVectorIndex(SPACE)
    idx.add("d", pages)
    calls: list[int] = []
    _count_screens(monkeypatch, calls)
    assert len(idx) < idx.screen_pages_per_k * 3
    _same(idx, _queries(rng, pages), 3)
    assert calls == [], "screened a 30-page segment"


def test_k_beyond_the_live_pages_returns_each_live_page_once(tmp_path):
    rng = np.random.default_rng(4)
    idx, pages = _index(rng, tmp_path)
    queries = _queries(rng, pages, 3)
    for mode in ("screened", "exact", "binary", "muvera"):
        hits = idx.search(queries, k=10_000, mode=mode, candidates=10_000)
        assert all(len(h) == len(idx) for h in hits), mode
        assert all(sorted(p.page_id for p in h) == sorted(idx.page_ids()) for h in hits), mode
        assert not any(p.doc_id in ("a1", "b2") for h in hits for p in h), mode
    assert idx.search(queries, k=10_000, mode="screened") == idx.search(queries, k=10_000, mode="exact")


def test_deleting_everything_leaves_empty_answers(tmp_path):
    rng = np.random.default_rng(5)
    idx, pages = _index(rng, tmp_path)
    for doc in idx.doc_ids():
        idx.delete(doc)
    assert idx.search(_queries(rng, pages, 2), k=3, mode="screened") == [[], []]


def test_bad_mode_k_and_mask_are_typed_errors(tmp_path):
    rng = np.random.default_rng(6)
    idx, pages = _index(rng, tmp_path)
    q = _queries(rng, pages, 1)
    with pytest.raises(InputError, match="'screened'.*'exact'.*got 'fast'") as err:
        idx.search(q, k=3, mode="fast")  # type: ignore[arg-type]
    assert err.value.input_name == "mode"
    for k in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="k must be"):
            idx.search(q, k=k)  # type: ignore[arg-type]


# --- the saved copies -------------------------------------------------------------------------


def _manifest(root) -> dict:
    return json.loads((root / "manifest.json").read_text())


def test_each_segment_saves_its_screened_pair_and_compaction_rebuilds_it(tmp_path, kind):
    rng = np.random.default_rng(9)
    idx, pages = _index(rng, tmp_path)
    idx.save()
    root = tmp_path / "idx"
    pair = sorted(SCREEN_PAIRS[kind])
    screened = sorted(f for f in _manifest(root)["files"] if f.split("/")[1] in SCREEN_FILES)
    assert screened == [f"seg-00000{s}/{f}" for s in (1, 2, 3) for f in pair]
    seg3 = idx._segments[-1]
    if kind == "bfloat16":
        bits = np.load(root / "seg-000003" / "screen-bf16.npy")
        assert bits.dtype == np.uint16 and bits.shape == seg3.pages.tokens.shape
    else:
        planes = np.load(root / "seg-000003" / "screen-int16.npy")
        assert planes.dtype == np.int32 and planes.shape == (int(np.sum(-(-seg3.pages.lengths // 8))), 16, 8)
    idx.compact()
    assert sorted(f for f in _manifest(root)["files"] if "screen" in f) == [f"seg-000004/{f}" for f in pair]
    built = ScreenedPages.from_pages(idx.live_pages())
    assert built.kind == kind
    if kind == "int16":
        assert built.int16 is not None
        np.testing.assert_array_equal(np.load(root / "seg-000004" / "screen-int16-stats.npy"), built.int16.stats)
        np.testing.assert_array_equal(np.load(root / "seg-000004" / "screen-int16.npy"), built.int16.planes)
        return
    norms = np.load(root / "seg-000004" / "screen-norms.npy")
    np.testing.assert_array_equal(norms, np.stack([built.norm, built.screen_norm, built.residual]))
    import torch

    np.testing.assert_array_equal(np.load(root / "seg-000004" / "screen-bf16.npy"),
                                  built.screen.view(torch.int16).numpy().view(np.uint16))


def _record_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of the screened copies built from now on (a list the builds append to)."""
    built: list[str] = []
    build = ScreenedPages.from_pages

    def record(*a, **kw):
        sp = build(*a, **kw)
        built.append(str(sp.kind))
        return sp

    monkeypatch.setattr(ScreenedPages, "from_pages", record)
    return built


def test_a_segment_saved_with_the_other_screen_is_screened_from_a_copy_built_here(tmp_path, kind, monkeypatch):
    rng = np.random.default_rng(15)
    idx, pages = _index(rng, tmp_path)
    idx.save()
    queries = _queries(rng, pages)
    want = idx.search(queries, k=5, mode="exact")
    other = "int16" if kind == "bfloat16" else "bfloat16"
    monkeypatch.setenv(SCREEN_ENV, other)  # another machine, which runs the other screen
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "1" if other == "bfloat16" else "0")
    if other == "int16" and not int16_screen_available():
        pytest.skip("the integer screen's kernel needs an x86 CPU with AVX2 and numba")
    there = MultiVectorIndex.load(tmp_path / "idx")
    there.screen_pages_per_k = 0
    built = _record_builds(monkeypatch)
    assert there.search(queries, k=5) == want
    assert built and set(built) == {other}  # its own kind, built in memory for each segment


def test_a_bfloat16_pair_is_read_where_bfloat16_is_native_though_int16_is_the_screen(tmp_path, kind, monkeypatch):
    # An index saved on an AVX512-BF16 CPU before int16 became its screen: its bfloat16 pairs are
    # screened with, not replaced by int16 copies built in memory (the pages' size again).
    if kind != "bfloat16" or not int16_screen_available():
        pytest.skip("saves bfloat16 pairs, then opens them where int16 is the screen")
    rng = np.random.default_rng(21)
    idx, pages = _index(rng, tmp_path)
    idx.save()
    queries = _queries(rng, pages)
    want = idx.search(queries, k=5, mode="exact")
    monkeypatch.delenv(SCREEN_ENV)  # auto: int16, with bfloat16 native
    assert screen_kind() == "int16"
    built = _record_builds(monkeypatch)
    there = MultiVectorIndex.load(tmp_path / "idx")
    there.screen_pages_per_k = 0
    assert there.search(queries, k=5) == want
    assert built == []  # every segment's held pair was read
    # Where bfloat16 is emulated the held pairs do not run: int16 copies are built instead.
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "0")
    there = MultiVectorIndex.load(tmp_path / "idx")
    there.screen_pages_per_k = 0
    assert there.search(queries, k=5) == want
    assert built and set(built) == {"int16"}


def test_a_doctored_screened_file_is_refused(tmp_path, kind):
    rng = np.random.default_rng(10)
    idx, pages = _index(rng, tmp_path)
    idx.save()
    root = tmp_path / "idx"
    norms = SCREEN_PAIRS[kind][1]
    path = root / "seg-000002" / norms
    np.save(path, np.load(path) * 0.5)  # same shape: a tighter bound that could drop true top-k pages
    with pytest.raises(IndexCorruptedError):
        MultiVectorIndex.load(root)  # its SHA-256 no longer matches the manifest
    from vertex_mm.index.manifest import file_record

    np.save(path, np.zeros((3, 2)))  # and a wrong shape, even with a manifest record that matches it
    manifest = _manifest(root)
    rec = file_record(path)
    manifest["files"][f"seg-000002/{norms}"] = {"bytes": rec.bytes, "sha256": rec.sha256}
    (root / "manifest.json").write_text(json.dumps(manifest))
    loaded = MultiVectorIndex.load(root)
    loaded.screen_pages_per_k = 0
    with pytest.raises(IndexCorruptedError, match=norms.removesuffix(".npy")):
        loaded.search(_queries(rng, pages, 1), k=3)


@pytest.mark.parametrize("change", ["drop-one", "stranger"])
def test_the_file_list_allows_the_screened_pair_and_nothing_else(tmp_path, change, kind):
    rng = np.random.default_rng(11)
    idx, _ = _index(rng, tmp_path)
    idx.save()
    root = tmp_path / "idx"
    manifest = _manifest(root)
    norms = f"seg-000001/{SCREEN_PAIRS[kind][1]}"
    if change == "drop-one":
        del manifest["files"][norms]
        match = "without the other"
    else:
        manifest["files"]["seg-000001/screen-evil.npy"] = manifest["files"][norms]
        match = "unexpected"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptedError, match=match):
        MultiVectorIndex.load(root, verify=False)


def test_an_index_saved_without_screened_files_loads_and_searches(tmp_path, kind):
    rng = np.random.default_rng(12)
    idx, pages = _index(rng, tmp_path)
    idx.save()
    root = tmp_path / "idx"
    queries = _queries(rng, pages)
    want = idx.search(queries, k=5, mode="exact")
    manifest = _manifest(root)  # the format before screened copies: no screen files anywhere
    for name in [f for f in manifest["files"] if f.split("/")[1] in SCREEN_FILES]:
        del manifest["files"][name]
        (root / name).unlink()
    (root / "manifest.json").write_text(json.dumps(manifest))
    old = MultiVectorIndex.load(root)
    old.screen_pages_per_k = 0
    assert old.search(queries, k=5) == want  # built in memory on the first search
    assert not any("screen" in f for f in _manifest(root)["files"])
    old.add("new", pages[:3])
    old.save()  # the new segment gets its pair; the old ones stay as they were
    assert sorted(f for f in _manifest(root)["files"] if "screen" in f) == [f"seg-000004/{f}" for f in sorted(SCREEN_PAIRS[kind])]
    _same(MultiVectorIndex.load(root), queries, 5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_rescored_subset_of_equal_lengths_keeps_the_full_scans_layout(seed):
    # One short query (under 64 query tokens in all) puts maxsim on another kernel layout when
    # every page has the same length; the candidates here do, the segment does not.
    rng = np.random.default_rng(seed)
    pages = [p[:10] for p in _pages(rng, 200) if len(p) >= 10][:150] + _pages(rng, 1)
    pages[-1] = np.concatenate([pages[-1], pages[-1]])[:13]
    idx = MultiVectorIndex(SPACE, dtype="float32")
    idx.screen_pages_per_k = 0
    idx.add("d", pages)
    target = pages[int(rng.integers(0, 150))]
    for n_tok in (2, 5, 9):
        q = target[:n_tok] + 0.05 * rng.standard_normal((n_tok, 32)).astype(np.float32)
        _same(idx, [q / np.linalg.norm(q, axis=1, keepdims=True)], 1)


@pytest.mark.parametrize("dim", [64, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_screened_topk_matches_the_scan_for_other_dimensions(dim, seed):
    from vertex_mm.index._screen import screened_topk
    from vertex_mm.late_interaction.maxsim import maxsim, top_k
    from vertex_mm.late_interaction.packed import PackedPages

    rng = np.random.default_rng(seed)
    pages = []
    for length in rng.integers(3, 60, size=int(rng.integers(50, 250))):
        x = rng.standard_normal((int(length), dim)).astype(np.float32)
        pages.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    packed = PackedPages.from_list(pages, dtype=np.dtype("float16" if seed % 2 else "float32"))
    screened = ScreenedPages.from_pages(packed)
    live = rng.random(len(pages)) > 0.2
    queries = []
    for t in rng.choice(len(pages), size=int(rng.integers(1, 9)), replace=False):
        q = pages[t][rng.integers(0, len(pages[t]), size=int(rng.integers(1, 20)))]
        q = q + 0.3 * rng.standard_normal(q.shape).astype(np.float32)
        queries.append((q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32))
    scores = maxsim(queries, packed)
    scores[:, ~live] = -np.inf
    for k in (1, 3, 10):
        want, got = top_k(scores, k), screened_topk(screened, queries, k, live)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])  # float32 scores, bit for bit


def test_screen_copies_off_saves_no_pair_and_still_answers_bit_for_bit(tmp_path):
    rng = np.random.default_rng(13)
    pages = _pages(rng, 60)
    idx = MultiVectorIndex(SPACE, screen_copies=False)
    idx.screen_pages_per_k = 0
    for d in range(3):
        idx.add(f"d{d}", pages[d * 20 : (d + 1) * 20])
    idx.save(tmp_path / "idx")
    idx.add("more", pages[:7])
    idx.save()
    idx.compact()
    root = tmp_path / "idx"
    assert not any("screen" in f for f in _manifest(root)["files"])
    assert _manifest(root)["config"]["screen_copies"] is False
    loaded = MultiVectorIndex.load(root)
    assert loaded.screen_copies is False
    loaded.screen_pages_per_k = 0
    _same(loaded, _queries(rng, pages), 5)  # the copy is built in memory


def test_pooled_pages_are_stored_as_given(tmp_path):
    from vertex_mm.late_interaction.pooling import pool_page

    pytest.importorskip("scipy")
    rng = np.random.default_rng(14)
    pages = [p for p in _pages(rng, 8) if len(p) >= 6]
    a = MultiVectorIndex(SPACE, pool_factor=3, dtype="float32")
    a.add("doc", pages)
    b = MultiVectorIndex(SPACE, pool_factor=3, dtype="float32")
    b.add("doc", [pool_page(p, 3) for p in pages], pooled=True)
    for (_, va), (_, vb) in zip(a.iter_pages(), b.iter_pages(), strict=True):
        np.testing.assert_array_equal(va, vb)


def test_int16_pairs_are_written_as_format_4_and_bfloat16_ones_as_2(tmp_path, kind, monkeypatch):
    from vertex_mm.index import IndexVersionError
    from vertex_mm.index import manifest as manifest_module

    rng = np.random.default_rng(16)
    want = 4 if kind == "int16" else 2
    idx, pages = _index(rng, tmp_path)
    idx.save()  # in place: new segments
    assert _manifest(tmp_path / "idx")["format_version"] == want
    idx.save(tmp_path / "copy")  # whole, to a new folder
    assert _manifest(tmp_path / "copy")["format_version"] == want
    fresh = MultiVectorIndex(SPACE)
    fresh.add("d", pages[:5])
    fresh.save(tmp_path / "fresh")  # a first save
    assert _manifest(tmp_path / "fresh")["format_version"] == want
    if kind == "int16":
        # Readers of format 3 took the int16 files for corruption; format 4 makes them say "upgrade".
        monkeypatch.setattr(manifest_module, "FORMAT_VERSION", 3)
        with pytest.raises(IndexVersionError, match="upgrade vertex-mm"):
            MultiVectorIndex.load(tmp_path / "fresh")


def test_a_misspelt_screen_variable_saves_the_index_without_its_copy(tmp_path, monkeypatch):
    rng = np.random.default_rng(17)
    pages = _pages(rng, 30)
    idx = MultiVectorIndex(SPACE)
    idx.add("d", pages)
    monkeypatch.setenv(SCREEN_ENV, "fastest")
    idx.save(tmp_path / "idx")  # the index is saved; the screened copy is not
    assert not any("screen" in f for f in _manifest(tmp_path / "idx")["files"])
    with pytest.raises(InputError, match="VERTEX_MM_SCREEN must be"):
        idx.search(_queries(rng, pages, 1), k=3)  # small as it is: the variable is checked anyway
    assert len(idx.search(_queries(rng, pages, 1), k=3, mode="exact")[0]) == 3


def test_a_copy_kept_from_before_the_screen_changed_is_replaced(tmp_path, kind, monkeypatch):
    if not int16_screen_available():
        pytest.skip("the integer screen's kernel needs an x86 CPU with AVX2 and numba")
    rng = np.random.default_rng(18)
    idx, pages = _index(rng, tmp_path)
    queries = _queries(rng, pages)
    want = idx.search(queries, k=5, mode="exact")
    assert idx.search(queries, k=5) == want  # copies of this kind kept in memory
    other = "int16" if kind == "bfloat16" else "bfloat16"
    monkeypatch.setenv(SCREEN_ENV, other)
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "1" if other == "bfloat16" else "0")
    calls: list[int] = []
    _count_screens(monkeypatch, calls)
    assert idx.search(queries, k=5) == want
    if other == "int16":  # a kept bfloat16 copy does not run here: replaced by an int16 one
        assert calls, "the kept bfloat16 copies were scanned instead of screened"
