"""Recall@k, hit@k, reciprocal rank and nDCG@k against examples worked out by hand, and the
trec_eval-compatible means over a run against trec_eval itself (pytrec_eval)."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.evaluation.metrics import (
    evaluate_run,
    first_relevant_rank,
    hit_at_k,
    mean_ndcg_at_k,
    mean_recall_at_k,
    mean_reciprocal_rank,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    score_rankings,
    trec_ranking,
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
    assert "hit@1=0.250, hit@2=0.750, recall@2=0.625, MRR=0.500" in repr(s)


@pytest.mark.parametrize("call", [
    lambda: recall_at_k(RANKING, set(), 1),
    lambda: hit_at_k(RANKING, {"a"}, 0),
    lambda: score_rankings([], []),
    lambda: score_rankings([RANKING], [{"a"}, {"b"}]),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


# --- trec_eval-compatible means over a run --------------------------------------------------


def _random_case(rng):
    docs = [f"d{i}" for i in range(30)]
    qrels = {f"q{q}": {d: int(rng.integers(1, 4)) for d in rng.choice(docs, size=int(rng.integers(1, 6)), replace=False)}
             for q in range(12)}
    run = {q: {d: float(s) for d, s in zip(docs, rng.permutation(len(docs)) + rng.random(len(docs)))} for q in qrels}
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ndcg_recall_and_mrr_match_trec_eval(seed):
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec_eval (dev extra) is the reference implementation")
    run, qrels = _random_case(np.random.default_rng(seed))
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5,10", "recall.5,10", "recip_rank"})
    ref = ev.evaluate(run)
    mean = lambda key: float(np.mean([r[key] for r in ref.values()]))  # noqa: E731
    assert mean_ndcg_at_k(run, qrels, 5) == pytest.approx(mean("ndcg_cut_5"), abs=1e-9)
    assert mean_ndcg_at_k(run, qrels, 10) == pytest.approx(mean("ndcg_cut_10"), abs=1e-9)
    assert mean_recall_at_k(run, qrels, 5) == pytest.approx(mean("recall_5"), abs=1e-9)
    assert mean_recall_at_k(run, qrels, 10) == pytest.approx(mean("recall_10"), abs=1e-9)
    assert mean_reciprocal_rank(run, qrels) == pytest.approx(mean("recip_rank"), abs=1e-9)


def test_ndcg_by_hand():
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": {"x": 3.0, "a": 2.0, "b": 1.0}}
    ideal = 1 + 1 / np.log2(3)
    assert mean_ndcg_at_k(run, qrels, 5) == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / ideal)
    assert ndcg_at_k(["x", "a", "b"], {"a": 1, "b": 1}, 5) == pytest.approx((1 / np.log2(3) + 1 / np.log2(4)) / ideal)
    assert mean_reciprocal_rank(run, qrels) == pytest.approx(0.5)
    assert mean_ndcg_at_k({}, qrels) == 0.0


def test_graded_relevance_is_the_gain():
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 2) == pytest.approx((1 + 2 / np.log2(3)) / (2 + 1 / np.log2(3)))


def test_ties_are_ordered_by_doc_id_descending_as_trec_eval_does():
    assert trec_ranking({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]


def test_queries_without_a_relevant_doc_are_skipped():
    qrels = {"q1": {"a": 1}, "q2": {"a": 0}}
    run = {"q1": {"a": 1.0}, "q2": {"b": 1.0}}
    assert evaluate_run(run, qrels) == {"ndcg@5": 1.0, "ndcg@10": 1.0, "recall@5": 1.0, "recall@10": 1.0, "mrr@10": 1.0}


def test_an_id_ranked_twice_counts_once():
    from vertex_mm.evaluation.metrics import ndcg_at_k

    assert ndcg_at_k(["a", "a", "b"], {"a": 1}, 5) == 1.0  # it gave 1.63


def test_the_page_harness_settles_ties_at_the_cut_in_trec_eval_order():
    # Twelve pages tied: the top 10 were the first ten in corpus order, then sorted. trec_eval
    # ranks ties by doc id descending over all of them, so "p11" (relevant) is first.
    import numpy as np

    from vertex_mm.pages.eval.harness import query_metrics

    page_ids = [f"p{i:02d}" for i in range(12)]
    got = query_metrics(np.zeros((1, 12), np.float32), page_ids, ["q"], {"q": {"p11": 1}})
    assert got["q"]["recall1"] == 1.0 and got["q"]["mrr10"] == 1.0
