"""Retrieval metrics, the one module for every evaluation: recall@k, hit@k, reciprocal rank
and nDCG@k per query, and trec_eval-compatible means over a run.

A query has one ranking (ids, best first) and a set of relevant ids, one or several:

>>> recall_at_k(["b", "a", "c"], {"a"}, 1), recall_at_k(["b", "a", "c"], {"a"}, 2)
(0.0, 1.0)
>>> recall_at_k(["a", "x", "b"], {"a", "b", "c"}, 3)       # found 2 of the 3 relevant
0.6666666666666666
>>> hit_at_k(["a", "x", "b"], {"a", "b", "c"}, 1)          # a relevant one is first
1.0
>>> reciprocal_rank(["x", "y", "a"], {"a", "b"})           # first relevant at rank 3
0.3333333333333333

Two readings of "R@k", which agree only when a query has one relevant item, so a label
names which one it means:

* :func:`hit_at_k`, the hit rate or success@k, printed "Hit@k" (``hit`` in RESULT keys): the
  query counts as a success when *any* relevant item is in its top k. Image-text retrieval
  papers report this as R@K (CLIP, COCO/Flickr30k); ``eval-images`` headlines it.
* :func:`recall_at_k`, the information-retrieval recall@k, printed "recall@k"/"Recall@k"
  (``recall`` in RESULT keys): the share of the relevant items that are in the top k. With
  three relevant photos, recall@1 is at most 1/3.

:func:`score_rankings` averages both, and the reciprocal rank, over a set of queries (the image
evaluation). Page retrieval is scored the way trec_eval scores it (the ViDoRe leaderboard
reports nDCG@5): a *run* maps query id -> {doc id: score}, *qrels* map query id -> {doc id:
relevance}. :func:`trec_ranking` orders a query's docs by score, ties by doc id descending (trec_eval's
order); :func:`ndcg_at_k` takes the relevance grade as gain (linear, as trec_eval's
``ndcg_cut``); the ``mean_*`` functions and :func:`evaluate_run` skip queries without a relevant
doc (trec_eval would count them as 0: keep such queries out of the qrels, as the shipped ones
are), and score a query missing from the run as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "Qrels",
    "RetrievalScores",
    "Run",
    "evaluate_run",
    "first_relevant_rank",
    "hit_at_k",
    "mean_ndcg_at_k",
    "mean_recall_at_k",
    "mean_reciprocal_rank",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "score_rankings",
    "trec_ranking",
]

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]
Item = TypeVar("Item", bound=Hashable)


def _check(relevant: Collection[Hashable], k: int | None = None) -> None:
    if not relevant:
        raise ValueError("a query needs at least one relevant id")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def first_relevant_rank(ranking: Sequence[Hashable], relevant: Collection[Hashable]) -> int | None:
    """1-based rank of the first relevant id in ``ranking``; None when none appears."""
    _check(relevant)
    for rank, item in enumerate(ranking, 1):
        if item in relevant:
            return rank
    return None


def hit_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """1.0 when a relevant id is among the first ``k`` of ``ranking``, else 0.0 (success@k; the
    R@K of image-text papers)."""
    _check(relevant, k)
    return 1.0 if any(item in relevant for item in ranking[:k]) else 0.0


def recall_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """The share of ``relevant`` found among the first ``k`` of ``ranking`` (IR recall@k)."""
    _check(relevant, k)
    wanted = set(relevant)
    return len(wanted.intersection(ranking[:k])) / len(wanted)


def reciprocal_rank(ranking: Sequence[Hashable], relevant: Collection[Hashable]) -> float:
    """1 / rank of the first relevant id; 0.0 when none appears (its mean is MRR)."""
    rank = first_relevant_rank(ranking, relevant)
    return 0.0 if rank is None else 1.0 / rank


def ndcg_at_k(ranking: Sequence[Item], grades: Mapping[Item, int], k: int) -> float:
    """nDCG@k of one ranking; ``grades`` maps ids to relevance (the gain; <= 0 is not relevant)."""
    _check([g for g in grades.values() if g > 0], k)
    ranking = list(dict.fromkeys(ranking))  # an id ranked twice counts once (it gave nDCG 1.63)
    dcg = sum(grades.get(item, 0) / math.log2(i + 2) for i, item in enumerate(ranking[:k]) if grades.get(item, 0) > 0)
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


@dataclass(frozen=True)
class RetrievalScores:
    """Means over ``n_queries`` queries. ``hit[k]`` is the hit rate (success@k, what papers
    print as R@K), ``recall[k]`` the IR recall@k (see the module docstring); ``mrr`` the mean
    reciprocal rank."""

    n_queries: int
    hit: Mapping[int, float]
    recall: Mapping[int, float]
    mrr: float

    def __repr__(self) -> str:
        hits = ", ".join(f"hit@{k}={v:.3f}" for k, v in sorted(self.hit.items()))
        recalls = ", ".join(f"recall@{k}={v:.3f}" for k, v in sorted(self.recall.items()) if k > 1)
        return f"RetrievalScores(n={self.n_queries}, {hits}, {recalls + ', ' if recalls else ''}MRR={self.mrr:.3f})"


def score_rankings(
    rankings: Iterable[Sequence[Hashable]],
    relevants: Iterable[Collection[Hashable]],
    ks: Sequence[int] = (1, 5),
) -> RetrievalScores:
    """Average :func:`hit_at_k`, :func:`recall_at_k` (for each k in ``ks``) and
    :func:`reciprocal_rank` over queries given as parallel iterables."""
    pairs = list(zip(rankings, relevants, strict=True))
    if not pairs:
        raise ValueError("no queries to score")
    n = len(pairs)
    hit = {k: sum(hit_at_k(r, rel, k) for r, rel in pairs) / n for k in ks}
    recall = {k: sum(recall_at_k(r, rel, k) for r, rel in pairs) / n for k in ks}
    mrr = sum(reciprocal_rank(r, rel) for r, rel in pairs) / n
    return RetrievalScores(n, hit, recall, mrr)


# --- trec_eval-compatible means over a run ------------------------------------------------------


class _Descending(str):
    # Reverses string order inside an ascending sort key.
    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


def trec_ranking(scores: Mapping[str, float]) -> list[str]:
    """Doc ids best first; ties by doc id descending, as trec_eval orders them."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (-kv[1], _Descending(kv[0])))]


def _judged(qrels: Qrels) -> dict[str, dict[str, int]]:
    return {q: dict(rels) for q, rels in qrels.items() if any(r > 0 for r in rels.values())}


def _relevant(grades: Mapping[str, int]) -> set[str]:
    return {d for d, g in grades.items() if g > 0}


def _mean_over_judged(run: Run, qrels: Qrels, per_query: Callable[[list[str], dict[str, int]], float]) -> float:
    judged = _judged(qrels)
    if not judged:
        return 0.0
    return sum(per_query(trec_ranking(run.get(q, {})), grades) for q, grades in judged.items()) / len(judged)


def mean_ndcg_at_k(run: Run, qrels: Qrels, k: int = 5) -> float:
    """Mean nDCG@k over queries with at least one relevant doc."""
    return _mean_over_judged(run, qrels, lambda ranking, grades: ndcg_at_k(ranking, grades, k))


def mean_recall_at_k(run: Run, qrels: Qrels, k: int = 10) -> float:
    """Mean share of each query's relevant docs found in its top k."""
    return _mean_over_judged(run, qrels, lambda ranking, grades: recall_at_k(ranking, _relevant(grades), k))


def mean_reciprocal_rank(run: Run, qrels: Qrels, k: int | None = None) -> float:
    """MRR: mean reciprocal rank of the first relevant doc (0 when none is in the top k)."""
    return _mean_over_judged(run, qrels, lambda ranking, grades: reciprocal_rank(ranking[:k], _relevant(grades)))


def evaluate_run(run: Run, qrels: Qrels) -> dict[str, float]:
    """nDCG@5 (ViDoRe's headline), nDCG@10, recall@5/10 and MRR@10 of a run."""
    return {
        "ndcg@5": mean_ndcg_at_k(run, qrels, 5),
        "ndcg@10": mean_ndcg_at_k(run, qrels, 10),
        "recall@5": mean_recall_at_k(run, qrels, 5),
        "recall@10": mean_recall_at_k(run, qrels, 10),
        "mrr@10": mean_reciprocal_rank(run, qrels, 10),
    }
