"""Retrieval metrics as trec_eval computes them (the ViDoRe leaderboard reports nDCG@5).

A *run* maps query id -> {page id: score}; *qrels* map query id -> {page id: relevance}.
Pages are ranked by score, ties broken by page id descending (trec_eval's order), and the gain
of a page is its relevance grade (linear, as ``ndcg_cut`` in trec_eval and pytrec_eval).
Queries without any relevant page are skipped, as trec_eval does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["Qrels", "Run", "evaluate_run", "mrr", "ndcg_at_k", "ranked", "recall_at_k"]

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Page ids best first; ties by page id descending, as trec_eval orders them."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (-kv[1], _neg_key(kv[0])))]


class _neg_key(str):
    # Reverses string order inside an ascending sort key.
    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)


def _judged(qrels: Qrels) -> dict[str, dict[str, int]]:
    return {q: dict(rels) for q, rels in qrels.items() if any(r > 0 for r in rels.values())}


def _per_query_ndcg(ranking: list[str], rels: Mapping[str, int], k: int) -> float:
    dcg = sum(rels.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if rels.get(doc, 0) > 0)
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def ndcg_at_k(run: Run, qrels: Qrels, k: int = 5) -> float:
    """Mean nDCG@k over queries with at least one relevant page (a missing run row scores 0)."""
    judged = _judged(qrels)
    if not judged:
        return 0.0
    return sum(_per_query_ndcg(ranked(run.get(q, {})), rels, k) for q, rels in judged.items()) / len(judged)


def recall_at_k(run: Run, qrels: Qrels, k: int = 10) -> float:
    """Mean share of each query's relevant pages found in its top k."""
    judged = _judged(qrels)
    if not judged:
        return 0.0
    total = 0.0
    for q, rels in judged.items():
        relevant = {d for d, r in rels.items() if r > 0}
        total += len(relevant & set(ranked(run.get(q, {}))[:k])) / len(relevant)
    return total / len(judged)


def mrr(run: Run, qrels: Qrels, k: int | None = None) -> float:
    """Mean reciprocal rank of the first relevant page (0 when none is in the top k)."""
    judged = _judged(qrels)
    if not judged:
        return 0.0
    total = 0.0
    for q, rels in judged.items():
        for i, doc in enumerate(ranked(run.get(q, {}))[:k]):
            if rels.get(doc, 0) > 0:
                total += 1.0 / (i + 1)
                break
    return total / len(judged)


def evaluate_run(run: Run, qrels: Qrels) -> dict[str, float]:
    """The table's columns: nDCG@5 (ViDoRe's headline), nDCG@10, recall@5/10, MRR@10."""
    return {
        "ndcg@5": ndcg_at_k(run, qrels, 5),
        "ndcg@10": ndcg_at_k(run, qrels, 10),
        "recall@5": recall_at_k(run, qrels, 5),
        "recall@10": recall_at_k(run, qrels, 10),
        "mrr@10": mrr(run, qrels, 10),
    }
