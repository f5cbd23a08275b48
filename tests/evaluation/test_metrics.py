"""Recall@k, hit@k and reciprocal rank against examples worked out by hand."""

from __future__ import annotations

import pytest

from vertex_mm.evaluation.metrics import (
    first_relevant_rank,
    hit_at_k,
    recall_at_k,
    reciprocal_rank,
    score_rankings,
)

RANKING = ["d", "a", "e", "b", "c"]


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1.0), (5, 1.0)])
def test_single_relevant_recall_is_one_once_the_item_is_in_the_top_k(k, expected):
    assert recall_at_k(RANKING, {"a"}, k) == expected
    assert hit_at_k(RANKING, {"a"}, k) == expected


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1 / 3), (4, 2 / 3), (5, 1.0), (50, 1.0)])
def test_multi_relevant_recall_is_the_share_of_relevant_items_found(k, expected):
    # relevant a, b, c sit at ranks 2, 4 and 5
    assert recall_at_k(RANKING, {"a", "b", "c"}, k) == pytest.approx(expected)


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1.0), (4, 1.0)])
def test_multi_relevant_hit_needs_only_one_relevant_item(k, expected):
    assert hit_at_k(RANKING, {"a", "b", "c"}, k) == expected


def test_reciprocal_rank_uses_the_first_relevant_item():
    assert reciprocal_rank(RANKING, {"b", "c"}) == pytest.approx(1 / 4)
    assert reciprocal_rank(RANKING, {"d"}) == 1.0
    assert first_relevant_rank(RANKING, {"e", "c"}) == 3


def test_a_relevant_item_missing_from_the_ranking_scores_zero():
    assert first_relevant_rank(RANKING, {"z"}) is None
    assert reciprocal_rank(RANKING, {"z"}) == 0.0
    assert recall_at_k(RANKING, {"a", "z"}, 5) == 0.5
    assert hit_at_k([], {"a"}, 5) == 0.0


def test_score_rankings_averages_over_queries():
    rankings = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["x", "y", "z"]]
    relevants = [{"a"}, {"a"}, {"a", "b"}, {"a"}]
    s = score_rankings(rankings, relevants, ks=(1, 2))
    # hit@1: q1 yes, q2 no, q3 no, q4 no -> 1/4; hit@2: q1, q2, q3 -> 3/4
    assert s.hit == {1: 0.25, 2: 0.75}
    # recall@2: 1, 1, 1/2, 0 -> 2.5/4
    assert s.recall[1] == pytest.approx((1 + 0 + 0 + 0) / 4)
    assert s.recall[2] == pytest.approx(2.5 / 4)
    # reciprocal ranks 1, 1/2, 1/2, 0
    assert s.mrr == pytest.approx(2 / 4)
    assert s.n_queries == 4
    assert "R@1=0.250" in repr(s)


@pytest.mark.parametrize("call", [
    lambda: recall_at_k(RANKING, set(), 1),
    lambda: hit_at_k(RANKING, {"a"}, 0),
    lambda: score_rankings([], []),
    lambda: score_rankings([RANKING], [{"a"}, {"b"}]),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
