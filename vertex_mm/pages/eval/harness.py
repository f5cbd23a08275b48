"""The evaluation table of ``vertex-mm pages eval``: one retriever, its variants and baselines,
scored on a BEIR-layout data set.

Printed: a row per method (nDCG@5, Recall@1, Recall@5, MRR@10: recall is the share of a query's
relevant pages in its top k, not the hit rate ``eval-images`` prints), the retriever per query kind when
queries carry one, indexing speed with the CPU time other processes took meanwhile, and last
``RESULT ndcg5=… recall1=… recall5=… mrr10=… index_pages_per_s=…`` for the retriever itself.

Rows: the retriever (``f"{name} ({method})"``); the variants it scores from the index it
already holds (:class:`~vertex_mm.pages.EvalVariants`: the OCR-assisted retriever's components
alone, leave-one-out ablations, RRF fusion and a text-layer BM25 baseline; late interaction's
binarised and mean-pooled forms); and each baseline retriever, indexed on its own (``tesseract
OCR + BM25`` reads every page again). Every method is scored on its top 10 pages per query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from ..._cpu import Timing, timed
from ...evaluation.metrics import ndcg_at_k, recall_at_k, reciprocal_rank, trec_ranking
from ..retriever import EvalVariants, IndexStats, PageRetriever
from .dataset import PageDataset

__all__ = ["EvalReport", "MethodScores", "evaluate", "format_report", "query_metrics"]

METRICS = ("ndcg5", "recall1", "recall5", "mrr10")
_HEADERS = ("nDCG@5", "Recall@1", "Recall@5", "MRR@10")
#: Pages per query that a method hands to the metrics (MRR@10 needs 10).
RUN_DEPTH = 10


@dataclass
class MethodScores:
    name: str
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]


@dataclass
class EvalReport:
    dataset: str
    split: str
    n_queries: int
    n_pages: int
    methods: list[MethodScores] = field(default_factory=list)
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    kind_counts: dict[str, int] = field(default_factory=dict)
    stats: IndexStats = field(default_factory=IndexStats)
    timing: Timing = field(default_factory=Timing)

    @property
    def main(self) -> MethodScores:
        """The evaluated retriever's own row (the first)."""
        return self.methods[0]

    @property
    def index_pages_per_s(self) -> float:
        return self.n_pages / self.timing.wall if self.timing.wall > 0 else float("inf")


def query_metrics(scores: np.ndarray, page_ids: Sequence[str], qids: Sequence[str],
                  qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """Per-query nDCG@5, recall@1, recall@5 and MRR@10 of a ``(queries, pages)`` score matrix, from each
    query's top :data:`RUN_DEPTH` pages ranked as trec_eval ranks them."""
    out = {}
    for i, q in enumerate(qids):
        row = scores[i]
        # Every page tied with the 10th best takes part: cut in corpus order first, a tie at the
        # edge was settled by index order, not by trec_eval's (the "layout alone" row moved).
        cut = np.partition(row, -RUN_DEPTH)[-RUN_DEPTH] if len(row) > RUN_DEPTH else -np.inf
        ranking = trec_ranking({page_ids[int(j)]: float(row[j]) for j in np.flatnonzero(row >= cut)})[:RUN_DEPTH]
        grades = dict(qrels[q])
        relevant = {p for p, g in grades.items() if g > 0}
        out[q] = {"ndcg5": ndcg_at_k(ranking, grades, 5), "recall1": recall_at_k(ranking, relevant, 1),
                  "recall5": recall_at_k(ranking, relevant, 5), "mrr10": reciprocal_rank(ranking[:RUN_DEPTH], relevant)}
    return out


def _mean(per_query: Mapping[str, Mapping[str, float]], qids: Sequence[str] | None = None) -> dict[str, float]:
    keys = list(qids) if qids is not None else list(per_query)
    return {m: float(np.mean([per_query[q][m] for q in keys])) if keys else 0.0 for m in METRICS}


def evaluate(ds: PageDataset, retriever: PageRetriever, *, baselines: Sequence[PageRetriever] = (),
             log: Callable[[str], None] = lambda s: None) -> EvalReport:
    """Index ``ds`` with ``retriever`` (timed), score every method, and build the report."""
    qids = ds.query_ids
    texts = [ds.queries[q] for q in qids]
    log(f"indexing {len(ds.pages)} pages with {retriever.name} ({retriever.method}) ...")
    with timed() as timing:
        stats = retriever.index(ds.pages)
    ids = retriever.page_ids
    report = EvalReport(str(ds.root), ds.split, len(qids), len(ids), stats=stats, timing=timing)

    def add(name: str, scores: np.ndarray, page_ids: Sequence[str]) -> MethodScores:
        per_q = query_metrics(scores, page_ids, qids, ds.qrels)
        m = MethodScores(name, _mean(per_q), per_q)
        report.methods.append(m)
        return m

    main = add(f"{retriever.name} ({retriever.method})", retriever.score(texts), ids)
    if isinstance(retriever, EvalVariants):
        for label, scores in retriever.eval_variants(texts).items():
            add(label, scores, ids)
    for baseline in baselines:
        log(f"baseline: {baseline.method} ...")
        baseline.index(ds.pages)
        add(f"baseline: {baseline.method}", baseline.score(texts), baseline.page_ids)
    for kind in sorted({ds.kinds[q] for q in qids if q in ds.kinds}):
        members = [q for q in qids if ds.kinds.get(q) == kind]
        report.kind_counts[kind] = len(members)
        report.by_kind[kind] = _mean(main.per_query, members)
    return report


def format_report(report: EvalReport, out: TextIO) -> None:
    w = max(len(m.name) for m in report.methods) + 2
    print(f"data set {report.dataset}  split={report.split}  queries={report.n_queries}  pages={report.n_pages}", file=out)
    print(f"{'method':<{w}}" + "".join(f"{h:>9}" for h in _HEADERS), file=out)
    for m in report.methods:
        print(f"{m.name:<{w}}" + "".join(f"{m.mean[k]:>9.3f}" for k in METRICS), file=out)
    if report.by_kind:
        print(f"\n{report.main.name.split(' (')[0]} by query kind:", file=out)
        for kind, mean in report.by_kind.items():
            label = f"  {kind} ({report.kind_counts[kind]})"
            print(f"{label:<{w}}" + "".join(f"{mean[k]:>9.3f}" for k in METRICS), file=out)
    s = report.stats
    read = s.text_layer_pages + s.ocr_pages + s.ocr_cached  # a retriever of page images reads nothing
    reading = f"({s.reading()}, {s.ocr_cached} OCR results from cache); " if read else ""
    print(f"\nindexing: {report.n_pages} pages in {report.timing.wall:.1f} s = {report.index_pages_per_s:.2f} pages/s "
          f"{reading}stage seconds "
          + ", ".join(f"{k} {v:.1f}" for k, v in s.seconds.items()), file=out)
    t = report.timing
    print(f"cpu: this run {t.own_cpu:.1f} s, other processes {t.other_cpu:.1f} s during indexing", file=out)
    for e in s.errors:
        print(f"unreadable page: {e}", file=out)
    f = report.main.mean
    print(f"RESULT ndcg5={f['ndcg5']:.3f} recall1={f['recall1']:.3f} recall5={f['recall5']:.3f} mrr10={f['mrr10']:.3f} "
          f"index_pages_per_s={report.index_pages_per_s:.2f}", file=out)
