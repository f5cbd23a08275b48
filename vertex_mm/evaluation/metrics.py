"""Retrieval metrics over ranked lists: recall@k, hit@k and reciprocal rank.

A query has one ranking (ids, best first) and a set of relevant ids, one or several:

>>> recall_at_k(["b", "a", "c"], {"a"}, 1), recall_at_k(["b", "a", "c"], {"a"}, 2)
(0.0, 1.0)
>>> recall_at_k(["a", "x", "b"], {"a", "b", "c"}, 3)       # found 2 of the 3 relevant
0.6666666666666666
>>> hit_at_k(["a", "x", "b"], {"a", "b", "c"}, 1)          # a relevant one is first
1.0
>>> reciprocal_rank(["x", "y", "a"], {"a", "b"})           # first relevant at rank 3
0.3333333333333333

Two readings of "recall@k", which agree when a query has one relevant item:

* :func:`hit_at_k` is what image-text retrieval papers report as R@K (CLIP, COCO/Flickr30k):
  the query counts as a success when *any* relevant item is in its top k. The evaluation's
  headline ``recall@k`` columns use this.
* :func:`recall_at_k` is the information-retrieval definition: the share of the relevant
  items that are in the top k. With three relevant photos, recall@1 is at most 1/3.

:func:`score_rankings` averages both, and the reciprocal rank, over a set of queries.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "RetrievalScores",
    "first_relevant_rank",
    "hit_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "score_rankings",
]


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
    """1.0 when a relevant id is among the first ``k`` of ``ranking``, else 0.0 (R@K of papers)."""
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


@dataclass(frozen=True)
class RetrievalScores:
    """Means over ``n_queries`` queries. ``hit[k]`` is R@K as papers report it, ``recall[k]``
    the IR recall@k (see the module docstring); ``mrr`` the mean reciprocal rank."""

    n_queries: int
    hit: Mapping[int, float]
    recall: Mapping[int, float]
    mrr: float

    def __repr__(self) -> str:
        hits = ", ".join(f"R@{k}={v:.3f}" for k, v in sorted(self.hit.items()))
        return f"RetrievalScores(n={self.n_queries}, {hits}, MRR={self.mrr:.3f})"


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
