"""Ranking metrics for page retrieval: nDCG@k, recall@k, MRR@k (binary or graded relevance).

Standard definitions (as in BEIR / pytrec_eval): nDCG with gain ``rel`` and discount
``1/log2(rank+1)``, ideal ranking from the judged pages; recall@k = relevant found in the top
k / all relevant; MRR@k = 1/rank of the first relevant page in the top k, else 0.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

__all__ = ["ndcg_at", "recall_at", "mrr_at"]


def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    dcg = sum(relevant.get(pid, 0) / math.log2(i + 2) for i, pid in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    rel = {p for p, r in relevant.items() if r > 0}
    return len(rel & set(ranking[:k])) / len(rel) if rel else 0.0


def mrr_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    for i, pid in enumerate(ranking[:k]):
        if relevant.get(pid, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0
