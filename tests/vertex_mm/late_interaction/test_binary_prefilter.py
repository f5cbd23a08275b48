"""The 1-bit prefilter of the two-stage search and the blocked rerank.

With 2-bit queries and an opt-in ``prefilter`` :func:`two_stage_search` ranks every page by
plain Hamming, scores each query's best ``prefilter_size`` pages with the 2-bit weights (:func:`hamming_maxsim_pairs`, the
same integers as a full 2-bit pass), and reranks the top candidates in float32 a few pages at a
time; the result must be what the plain way gives, scores bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import BinaryPages, PackedPages, _rerank, hamming_maxsim, maxsim, top_k, two_stage_search
from vertex_mm.late_interaction import binary as binary_mod
from vertex_mm.late_interaction.binary import PREFILTER_PER_CANDIDATE, hamming_maxsim_pairs, has_fast_kernel, prefilter_size


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(autouse=True)
def popcount_kernel(monkeypatch):
    """The prefilter runs only with the popcount kernel: where the nibble kernel runs, 2-bit costs
    what 1-bit does and there is no prefilter (tests/.../test_binary_nibble.py)."""
    monkeypatch.setenv(binary_mod.KERNEL_ENV, "popcount")


@pytest.fixture
def colpali_like(rng: np.random.Generator) -> tuple[PackedPages, list[np.ndarray]]:
    pages = [_unit(rng, int(n), 128) for n in rng.integers(1, 14, size=57)]
    queries = [_unit(rng, int(n), 128) for n in (1, 5, 20, 9)]
    return PackedPages.from_list(pages).astype(np.float16), queries


@pytest.mark.parametrize("use_numba", [None, False])
@pytest.mark.parametrize("query_bits", [1, 2])
def test_pairs_give_the_full_passes_integers(colpali_like, monkeypatch, use_numba, query_bits):
    packed, queries = colpali_like
    codes = BinaryPages.from_pages(packed)
    monkeypatch.setattr(binary_mod, "PAGE_BLOCK", 5)  # several blocks of pairs, the last one short
    full = hamming_maxsim(queries, codes, query_bits=query_bits, use_numba=False)
    rng = np.random.default_rng(3)
    q_idx = rng.integers(0, len(queries), size=(7, 9))
    p_idx = rng.integers(0, len(packed), size=(7, 9))  # repeats and any order
    got = hamming_maxsim_pairs(queries, codes, q_idx, p_idx, query_bits=query_bits, use_numba=use_numba)
    assert got.dtype == np.float32 and got.shape == (7, 9)
    np.testing.assert_array_equal(got, full[q_idx, p_idx])
    assert hamming_maxsim_pairs(queries, codes, q_idx[:0], p_idx[:0]).shape == (0, 9)


def test_pairs_refuse_indices_outside_the_inputs(colpali_like):
    packed, queries = colpali_like
    codes = BinaryPages.from_pages(packed)
    with pytest.raises(InputError, match="page_index must lie in 0..56"):
        hamming_maxsim_pairs(queries, codes, np.array([0]), np.array([57]))
    with pytest.raises(InputError, match="query_index must lie in 0..3"):
        hamming_maxsim_pairs(queries, codes, np.array([4]), np.array([0]))
    with pytest.raises(InputError, match="same shape"):
        hamming_maxsim_pairs(queries, codes, np.array([0, 1]), np.array([0]))


def test_prefilter_size_rule():
    assert prefilter_size(10_000, 32) == 0  # off unless asked for: it loses weakly matching pages
    assert prefilter_size(10_000, 32, prefilter=1000) == 1000
    assert prefilter_size(10_000, 32, prefilter=3) == PREFILTER_PER_CANDIDATE * 32  # never fewer than that
    assert prefilter_size(10_000, 32, prefilter=0) == 0  # off
    assert prefilter_size(PREFILTER_PER_CANDIDATE * 32, 32, prefilter=1) == 0  # it would keep every page
    for bad in (-1, True, 2.5):
        with pytest.raises(InputError, match="prefilter must be an integer >= 0"):
            prefilter_size(100, 4, bad)


def _plain_prefiltered_two_stage(queries, binary, pages, k, candidates, n_pre):
    """The prefiltered search written the plain way: numpy Hamming, one maxsim call per query."""
    plain = hamming_maxsim(queries, binary, query_bits=1, use_numba=False)
    weighted = hamming_maxsim(queries, binary, query_bits=2, use_numba=False)
    scores, index = [], []
    for row, q in enumerate(queries):
        _, pre = top_k(plain[row : row + 1], n_pre)
        _, local = top_k(weighted[row : row + 1, pre[0]], candidates)
        ids = np.sort(pre[0][local[0]])
        s, best = top_k(maxsim([q], pages, page_ids=ids), k)
        scores.append(s[0])
        index.append(ids[best[0]])
    return np.array(scores, np.float32), np.array(index, np.int64)


@pytest.mark.parametrize("block_tokens", [4608, 16])
def test_prefiltered_two_stage_matches_the_plain_way_bit_for_bit(colpali_like, monkeypatch, block_tokens):
    packed, queries = colpali_like
    binary = BinaryPages.from_pages(packed)
    monkeypatch.setattr(_rerank, "RERANK_BLOCK_TOKENS", block_tokens)  # 16: a few pages per product
    n_pre = prefilter_size(len(packed), 3, prefilter=1)
    assert 0 < n_pre < len(packed)
    got = two_stage_search(queries, binary, packed, 2, candidates=3, prefilter=1)
    want = _plain_prefiltered_two_stage(queries, binary, packed, 2, 3, n_pre)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    wider = two_stage_search(queries, binary, packed, 2, candidates=3, prefilter=40)
    want = _plain_prefiltered_two_stage(queries, binary, packed, 2, 3, 40)
    np.testing.assert_array_equal(wider[1], want[1])
    np.testing.assert_array_equal(wider[0], want[0])


def test_prefilter_off_scores_every_page_with_two_bits(colpali_like):
    packed, queries = colpali_like
    binary = BinaryPages.from_pages(packed)
    _, cand = top_k(hamming_maxsim(queries, binary, query_bits=2), 3)
    got = two_stage_search(queries, binary, packed, 3, candidates=3, prefilter=0)
    default = two_stage_search(queries, binary, packed, 3, candidates=3)  # the prefilter is opt-in
    np.testing.assert_array_equal(default[0], got[0])
    np.testing.assert_array_equal(default[1], got[1])
    for q, c, s, i in zip(queries, cand, *got):
        want_s, want_i = top_k(maxsim([q], packed, page_ids=np.sort(c)), 3)
        np.testing.assert_array_equal(s, want_s[0])
        np.testing.assert_array_equal(i, np.sort(c)[want_i[0]])


@pytest.mark.skipif(not has_fast_kernel(), reason="numba not installed")
def test_prefilter_keeps_planted_pages_among_many(rng):
    """3,000 pages of 32 tokens, a planted page per query with half its tokens at cosine 0.5
    to the query's (the benchmark's kind of match): the 1-bit prefilter keeps it and the
    search returns it first, as the 2-bit pass over every page does."""
    pages = [_unit(rng, 32, 128) for _ in range(3000)]
    queries = [_unit(rng, 20, 128) for _ in range(6)]
    planted = rng.choice(3000, size=6, replace=False)
    for q, p in zip(queries, planted):
        u = _unit(rng, 10, 128)
        u -= (u * q[:10]).sum(1, keepdims=True) * q[:10]
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        pages[p][:10] = 0.5 * q[:10] + np.sqrt(0.75) * u
    packed = PackedPages.from_list(pages, dtype=np.float16)
    binary = BinaryPages.from_pages(packed)
    _, with_pre = two_stage_search(queries, binary, packed, 1, candidates=8, prefilter=1)
    _, without = two_stage_search(queries, binary, packed, 1, candidates=8, prefilter=0)
    assert with_pre[:, 0].tolist() == planted.tolist() == without[:, 0].tolist()


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"candidates": 0}, "candidates"), ({"candidates": -1}, "candidates"), ({"candidates": 1.5}, "candidates"),
    ({"k": 0}, "k"), ({"prefilter": -1, "query_bits": 1}, "prefilter"), ({"prefilter": 2.5, "query_bits": 1}, "prefilter"),
    ({"query_bits": 3}, "query_bits"),
])
def test_two_stage_search_refuses_bad_knobs_before_any_work(colpali_like, kwargs, name):
    packed, queries = colpali_like
    args = {"k": 2, "candidates": 4, **kwargs}
    with pytest.raises(InputError, match=name) as info:
        two_stage_search(queries, BinaryPages.from_pages(packed), packed, args.pop("k"), **args)
    assert info.value.input_name == name
