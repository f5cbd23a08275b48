"""MultiVectorIndex mode="binary" with 2-bit queries: every page scored with 2 bits by default,
or, with an opt-in ``binary_prefilter``, 1-bit Hamming over every page picks each query's best
pages and only those are scored with 2 bits; the float rerank orders the candidates; deleted
pages never come back."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.index import MultiVectorIndex
from vertex_mm.index._mv_search import prefiltered_hamming, score_all
from vertex_mm.late_interaction import BinaryPages, PackedPages, hamming_maxsim, top_k
from vertex_mm.results import EmbeddingSpace

SPACE = EmbeddingSpace("test", "rand-mv128", 128)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def world(tmp_path):
    rng = np.random.default_rng(5)
    pages = [_unit(rng.standard_normal((int(n), 128))) for n in rng.integers(2, 30, size=90)]
    queries = [_unit(pages[t][rng.integers(0, len(pages[t]), 6)] + 0.4 * rng.standard_normal((6, 128))) for t in (3, 50, 77)]
    idx = MultiVectorIndex(SPACE, dtype="float32")
    for d in range(3):
        idx.add(f"d{d}", pages[d * 20 : (d + 1) * 20])
    idx.save(tmp_path / "idx")
    idx.add("d3", pages[60:])  # a second segment, plus pages not saved yet
    idx.save()
    idx.add("pending", pages[:5])
    idx.delete("d1")
    return idx, pages, queries


def test_binary_select_copies_the_given_pages_codes():
    rng = np.random.default_rng(1)
    packed = PackedPages.from_list([rng.standard_normal((int(n), 128)).astype(np.float32) for n in (3, 1, 7, 2)])
    codes = BinaryPages.from_pages(packed)
    got = codes.select([2, 0, 3])
    want = BinaryPages.from_pages(packed.select([2, 0, 3]))
    np.testing.assert_array_equal(got.codes, want.codes)
    np.testing.assert_array_equal(got.offsets, want.offsets)


def test_prefilter_scores_the_plain_top_pages_with_two_bits(world):
    idx, pages, queries = world
    segs = [s for s in idx._all_segments() if s.live.any()]
    live = np.concatenate([s.live for s in segs])
    plain = score_all(segs, lambda s: hamming_maxsim(queries, s.binary, query_bits=1))
    full = score_all(segs, lambda s: hamming_maxsim(queries, s.binary, query_bits=2))
    got = prefiltered_hamming(segs, queries, 16)
    for row in range(len(queries)):
        kept = np.flatnonzero(np.isfinite(got[row]))
        assert set(kept) == set(top_k(plain[row : row + 1], 16)[1][0]) and live[kept].all()
        np.testing.assert_array_equal(got[row, kept], full[row, kept])  # the same integers as a full 2-bit pass


@pytest.mark.parametrize("kernel", ["popcount", "nibble"])
def test_binary_search_with_and_without_the_prefilter(world, monkeypatch, kernel):
    # The prefilter runs with the popcount kernel; the nibble kernel scores every page with 2 bits.
    from vertex_mm.late_interaction import _kernel_choice

    if kernel == "nibble" and not _kernel_choice._nibble_usable():
        pytest.skip("the nibble kernel needs numba and AVX2")
    monkeypatch.setenv(_kernel_choice.KERNEL_ENV, kernel)
    from vertex_mm.index import _mv_search

    calls: list[int] = []
    real = _mv_search.prefiltered_hamming

    def spy(segs, q_list, n_pre):
        calls.append(n_pre)
        return real(segs, q_list, n_pre)

    monkeypatch.setattr(_mv_search, "prefiltered_hamming", spy)
    idx, pages, queries = world
    assert idx.binary_prefilter == 0  # the default: every page scored with 2 bits
    full = idx.search(queries, k=3, mode="binary", candidates=4)
    assert calls == []
    idx.binary_prefilter = 1  # at least 8 per candidate: 32 of the 75 live pages
    assert idx.search(queries, k=3, mode="binary", candidates=4) == full  # the planted pages survive either way
    assert calls == ([32] if kernel == "popcount" else [])  # the nibble kernel never prefilters
    idx.binary_prefilter = 10_000  # more than the live pages: no prefilter
    assert idx.search(queries, k=3, mode="binary", candidates=4) == full
    assert len(calls) == (1 if kernel == "popcount" else 0)
    for hits in idx.search(queries, k=10, mode="binary", candidates=1):
        assert all(h.doc_id != "d1" for h in hits) and len(hits) == 10


# None is screen_pages_per_k's default, the screen's own (test_the_screen_pages_per_k_default).
@pytest.mark.parametrize(("knob", "bad"), [(knob, bad) for knob in ("binary_prefilter", "screen_pages_per_k")
                                           for bad in (-1, 2.5, "64", True, None)
                                           if not (knob == "screen_pages_per_k" and bad is None)])
def test_a_bad_search_knob_is_refused_when_set_not_at_the_first_search(knob, bad):
    with pytest.raises(InputError, match=f"{knob} must be an integer >= 0") as info:
        MultiVectorIndex(SPACE, **{knob: bad})
    assert info.value.input_name == knob
    idx = MultiVectorIndex(SPACE)
    with pytest.raises(InputError, match=f"{knob} must be an integer >= 0") as info:
        setattr(idx, knob, bad)
    assert info.value.input_name == knob
    assert getattr(idx, knob) == getattr(MultiVectorIndex(SPACE), knob)  # the refused value is not kept


def test_search_knobs_are_kept_from_the_constructor_and_after_a_load(world, tmp_path):
    from vertex_mm.index._mv_search import default_screen_pages_per_k
    from vertex_mm.late_interaction.screened import screen_kind

    idx, _, _ = world
    assert (idx.binary_prefilter, idx.screen_pages_per_k) == (0, default_screen_pages_per_k(screen_kind()))
    custom = MultiVectorIndex(SPACE, binary_prefilter=np.int64(64), screen_pages_per_k=7)
    assert (custom.binary_prefilter, custom.screen_pages_per_k) == (64, 7)
    assert isinstance(custom.binary_prefilter, int)
    loaded = MultiVectorIndex.load(idx.path)
    loaded.binary_prefilter = 32
    assert loaded.binary_prefilter == 32


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"candidates": 0}, "candidates"), ({"candidates": -3}, "candidates"), ({"candidates": 2.5}, "candidates"),
    ({"candidates": True}, "candidates"), ({"query_bits": 3}, "query_bits"), ({"query_bits": 0}, "query_bits"),
])
@pytest.mark.parametrize("mode", ["binary", "muvera", "exact"])
def test_bad_search_arguments_are_refused_in_every_mode(world, kwargs, name, mode):
    idx, _, queries = world
    with pytest.raises(InputError, match=name) as info:
        idx.search(queries, k=3, mode=mode, **kwargs)
    assert info.value.input_name == name


def test_the_screen_pages_per_k_default(monkeypatch):
    from vertex_mm.index._mv_search import DEFAULT_SCREEN_PAGES_PER_K, INT16_SCREEN_PAGES_PER_K
    from vertex_mm.late_interaction.screened import SCREEN_ENV

    idx = MultiVectorIndex(SPACE)
    monkeypatch.setenv(SCREEN_ENV, "bfloat16")
    assert idx.screen_pages_per_k == DEFAULT_SCREEN_PAGES_PER_K == 400
    monkeypatch.setenv(SCREEN_ENV, "none")
    assert idx.screen_pages_per_k == 400
    monkeypatch.setenv(SCREEN_ENV, "int16")
    from vertex_mm.late_interaction.int16_screen import int16_screen_available

    assert idx.screen_pages_per_k == (INT16_SCREEN_PAGES_PER_K if int16_screen_available() else 400)
    idx.screen_pages_per_k = 7
    assert idx.screen_pages_per_k == 7
    idx.screen_pages_per_k = None  # back to the screen's own
    assert idx.screen_pages_per_k in (INT16_SCREEN_PAGES_PER_K, 400)
