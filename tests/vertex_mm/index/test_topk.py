"""The fused block top-k kernel agrees with a full sort, whatever the block size or mask."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.index.topk import block_rows_for, exact_topk


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("block_rows", [7, 64, 1000, None])
@pytest.mark.parametrize("k", [1, 10, 33])
def test_matches_full_sort_for_any_block_size(block_rows, k, brute_force):
    corpus, queries = _unit(2000, 24, 1), _unit(17, 24, 2)
    scores, rows = exact_topk(corpus, queries, k, block_rows=block_rows)
    ref_scores, ref_rows = brute_force(corpus, queries, k)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)


def test_scores_are_sorted_best_first():
    scores, _ = exact_topk(_unit(500, 8, 3), _unit(5, 8, 4), 20, block_rows=50)
    assert np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("block_rows", [16, 300])
def test_mask_excludes_rows_exactly(block_rows, brute_force):
    corpus, queries = _unit(1200, 16, 5), _unit(9, 16, 6)
    allowed = np.random.default_rng(7).random(1200) < 0.3
    scores, rows = exact_topk(corpus, queries, 10, allowed=allowed, block_rows=block_rows)
    picked = np.flatnonzero(allowed)
    ref_scores, ref_sub = brute_force(corpus[picked], queries, 10)
    np.testing.assert_array_equal(rows, picked[ref_sub])
    assert allowed[rows].all()


def test_first_block_entirely_masked_still_finds_later_rows():
    corpus, queries = _unit(400, 8, 8), _unit(3, 8, 9)
    allowed = np.zeros(400, dtype=bool)
    allowed[350:] = True
    _, rows = exact_topk(corpus, queries, 5, allowed=allowed, block_rows=100)
    assert (rows >= 350).all()


def test_fewer_rows_than_k_pads_with_minus_one():
    scores, rows = exact_topk(_unit(3, 4, 10), _unit(2, 4, 11), 5)
    assert (rows[:, :3] >= 0).all() and (rows[:, 3:] == -1).all()
    assert np.isneginf(scores[:, 3:]).all()


def test_empty_corpus_returns_no_rows():
    scores, rows = exact_topk(np.empty((0, 4), np.float32), _unit(2, 4, 12), 3)
    assert (rows == -1).all() and np.isneginf(scores).all()


def test_block_size_shrinks_as_query_batches_grow():
    assert block_rows_for(1) > block_rows_for(100) >= block_rows_for(10_000)


def test_reads_a_memory_mapped_corpus(tmp_path, brute_force):
    corpus, queries = _unit(3000, 16, 13), _unit(4, 16, 14)
    np.save(tmp_path / "v.npy", corpus)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    _, rows = exact_topk(mapped, queries, 10, block_rows=512)
    np.testing.assert_array_equal(rows, brute_force(corpus, queries, 10)[1])


@pytest.mark.parametrize("block_rows", [3, 5, None])
def test_ties_at_the_k_th_place_keep_the_lowest_rows_so_a_larger_k_only_adds(block_rows):
    # Three copies of the best photo: k=1 gave the middle copy and k=3 put the first one
    # before it; a "show more" reordered the first hits (review finding 7).
    rng = np.random.default_rng(5)
    dup = _unit(1, 8, 6)
    corpus = np.concatenate([_unit(40, 8, 7) * 0.5, np.repeat(dup, 4, axis=0), _unit(40, 8, 8) * 0.5,
                             np.repeat(dup, 3, axis=0)])
    corpus = corpus[np.r_[rng.permutation(40), 40:len(corpus)]].astype(np.float32)
    ties = np.flatnonzero((corpus == dup).all(axis=1))
    previous: list[int] = []
    for k in range(1, 12):
        _, rows = exact_topk(corpus, dup, k, block_rows=block_rows)
        got = rows[0].tolist()
        assert got[: len(previous)] == previous  # growing k only appends
        assert got[: min(k, len(ties))] == ties[: min(k, len(ties))].tolist()
        previous = got
