"""``vertex-mm pages eval``: rank a BEIR-layout page set with the OCR-assisted retriever,
every component alone, every leave-one-out ablation and two lexical baselines.

Printed: a table per method (nDCG@5, R@1, R@5, MRR@10), the fused method per query kind when
queries carry one, indexing speed with the CPU time other processes took meanwhile, and last
``RESULT ndcg5=… r1=… r5=… mrr10=… index_pages_per_s=…`` for the fused retriever.

The components are scored once; ablations re-fuse those scores, so they cost no re-indexing.
The "OCR + BM25" baseline reads every page with tesseract (text layers ignored) and is the
one part that re-reads the corpus; ``ocr_baseline=False`` skips it.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .dataset import PageDataset
from .fusion import Fusion
from .reader import ReaderSettings
from .retriever import COMPONENTS, RETRIEVER_NAME, IndexStats, OcrAssistedPageRetriever

__all__ = ["MethodScores", "EvalReport", "evaluate", "evaluate_multivector", "format_report", "metrics_for", "render_ref"]

METRICS = ("ndcg5", "r1", "r5", "mrr10")


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
    index_wall_s: float = 0.0
    other_cpu_s: float = 0.0
    own_cpu_s: float = 0.0

    @property
    def fused(self) -> MethodScores:
        return self.methods[0]

    @property
    def index_pages_per_s(self) -> float:
        return self.n_pages / self.index_wall_s if self.index_wall_s > 0 else float("inf")


def metrics_for(scores: np.ndarray, page_ids: Sequence[str], qids: Sequence[str],
                qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """Per-query metrics of a ``(queries, pages)`` score matrix, computed by the page-eval
    harness's trec_eval-compatible functions (:mod:`vertex_mm.pages.eval.metrics`)."""
    from vertex_mm.pages.eval.metrics import mrr, ndcg_at_k, recall_at_k

    out = {}
    for i, q in enumerate(qids):
        top = np.argsort(-scores[i], kind="stable")[:10]
        run = {q: {page_ids[j]: float(scores[i, j]) for j in top}}
        rel = {q: dict(qrels[q])}
        out[q] = {"ndcg5": ndcg_at_k(run, rel, 5), "r1": recall_at_k(run, rel, 1),
                  "r5": recall_at_k(run, rel, 5), "mrr10": mrr(run, rel, 10)}
    return out


def _mean(per_query: Mapping[str, Mapping[str, float]], qids: Sequence[str] | None = None) -> dict[str, float]:
    keys = list(qids) if qids is not None else list(per_query)
    return {m: float(np.mean([per_query[q][m] for q in keys])) if keys else 0.0 for m in METRICS}


def _busy_jiffies() -> int | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            cols = [int(c) for c in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = cols[3] + (cols[4] if len(cols) > 4 else 0)
    return sum(cols[:8]) - idle


def _own_cpu_s() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def evaluate(ds: PageDataset, *, ocr_workers: int | None = None, use_ocr_cache: bool = True,
             ocr_baseline: bool = True, fusion: Fusion | None = None,
             log: Callable[[str], None] = lambda s: None) -> EvalReport:
    """Index ``ds`` with every component, score its queries, and build the report."""
    qids = ds.query_ids
    texts = [ds.queries[q] for q in qids]
    fusion = fusion or Fusion()
    retriever = OcrAssistedPageRetriever(fusion=fusion, ocr_workers=ocr_workers, use_ocr_cache=use_ocr_cache)
    log(f"indexing {len(ds.pages)} pages with {RETRIEVER_NAME} ({', '.join(COMPONENTS)}) ...")
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy0, cpu0, t0 = _busy_jiffies(), _own_cpu_s(), time.perf_counter()
    stats = retriever.index(ds.pages)
    wall = time.perf_counter() - t0
    busy1, cpu1 = _busy_jiffies(), _own_cpu_s()
    own = cpu1 - cpu0
    other = max(0.0, (busy1 - busy0) / hz - own) if busy0 is not None and busy1 is not None else float("nan")
    comps = retriever.component_scores(texts)
    ids = retriever.page_ids
    report = EvalReport(str(ds.root), ds.split, len(qids), len(ids), stats=stats, index_wall_s=wall, other_cpu_s=other, own_cpu_s=own)

    def add(name: str, scores: np.ndarray) -> MethodScores:
        per_q = metrics_for(scores, ids, qids, ds.qrels)
        m = MethodScores(name, _mean(per_q), per_q)
        report.methods.append(m)
        return m

    fused = add(f"{RETRIEVER_NAME} (all: {'+'.join(COMPONENTS)})", fusion.fuse(comps))
    for name in COMPONENTS:
        add(f"  {name} alone", comps[name])
    for name in COMPONENTS:
        rest = {k: v for k, v in comps.items() if k != name}
        add(f"  without {name}", fusion.fuse(rest))
    add("  rrf fusion (same weights)", dataclasses.replace(fusion, method="rrf").fuse(comps))
    from .lexical import LexicalScorer

    plain = LexicalScorer().fit([p.text for p in retriever.pages])
    add("baseline: text layer (else OCR) + BM25", np.vstack([plain.scores(q) for q in texts]))
    if ocr_baseline:
        log("baseline: OCR of every page (text layers ignored) + BM25 ...")
        ocr_only = OcrAssistedPageRetriever(components=("lexical",), ocr_workers=ocr_workers, use_ocr_cache=use_ocr_cache,
                                            reader=ReaderSettings(force_ocr=True), figure_boost=False)
        ocr_only.index(ds.pages)
        add("baseline: tesseract OCR + BM25", ocr_only.score(texts))
    kinds = sorted({ds.kinds[q] for q in qids if q in ds.kinds})
    for kind in kinds:
        members = [q for q in qids if ds.kinds.get(q) == kind]
        report.kind_counts[kind] = len(members)
        report.by_kind[kind] = _mean(fused.per_query, members)
    return report


def format_report(report: EvalReport, out: TextIO) -> None:
    w = max(len(m.name) for m in report.methods) + 2
    print(f"data set {report.dataset}  split={report.split}  queries={report.n_queries}  pages={report.n_pages}", file=out)
    print(f"{'method':<{w}}" + "".join(f"{h:>9}" for h in ("nDCG@5", "R@1", "R@5", "MRR@10")), file=out)
    for m in report.methods:
        print(f"{m.name:<{w}}" + "".join(f"{m.mean[k]:>9.3f}" for k in METRICS), file=out)
    if report.by_kind:
        print(f"\n{report.fused.name.split(' (')[0]} by query kind:", file=out)
        for kind, mean in report.by_kind.items():
            label = f"  {kind} ({report.kind_counts[kind]})"
            print(f"{label:<{w}}" + "".join(f"{mean[k]:>9.3f}" for k in METRICS), file=out)
    s = report.stats
    print(f"\nindexing: {report.n_pages} pages in {report.index_wall_s:.1f} s = {report.index_pages_per_s:.2f} pages/s "
          f"(text layer {s.text_layer_pages}, OCR {s.ocr_pages} pages + {s.ocr_regions} image regions, "
          f"{s.ocr_cached} OCR results from cache); stage seconds "
          + ", ".join(f"{k} {v:.1f}" for k, v in s.seconds.items()), file=out)
    print(f"cpu: this run {report.own_cpu_s:.1f} s, other processes {report.other_cpu_s:.1f} s during indexing", file=out)
    for e in s.errors:
        print(f"unreadable page: {e}", file=out)
    f = report.fused.mean
    print(f"RESULT ndcg5={f['ndcg5']:.3f} r1={f['r1']:.3f} r5={f['r5']:.3f} mrr10={f['mrr10']:.3f} "
          f"index_pages_per_s={report.index_pages_per_s:.2f}", file=out)


def render_ref(ref: Any, dpi: float = 144.0) -> Any:
    """A page as an RGB PIL image (PDF pages rendered at ``dpi``)."""
    if ref.is_pdf:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(ref.path))
        try:
            return doc[ref.page_index].render(scale=dpi / 72).to_pil().convert("RGB")
        finally:
            doc.close()
    from PIL import Image

    with Image.open(ref.path) as im:
        return im.convert("RGB")


def evaluate_multivector(ds: PageDataset, embedder: Any, name: str, *, batch_size: int = 8,
                         log: Callable[[str], None] = lambda s: None) -> EvalReport:
    """Late interaction (MaxSim) with any :class:`vertex_mm.pages.MultiVectorEmbedder`
    (the region default, a ColPali checkpoint) on the same data, for the same table."""
    from vertex_mm.late_interaction.maxsim import maxsim

    qids = ds.query_ids
    log(f"embedding {len(ds.pages)} pages with {name} ...")
    t0 = time.perf_counter()
    vectors: list[np.ndarray] = []
    for start in range(0, len(ds.pages), batch_size):
        vectors += embedder.embed_pages([render_ref(r) for r in ds.pages[start : start + batch_size]])
    wall = time.perf_counter() - t0
    scores = maxsim(embedder.embed_queries([ds.queries[q] for q in qids]), vectors)
    ids = [r.page_id for r in ds.pages]
    report = EvalReport(str(ds.root), ds.split, len(qids), len(ids), index_wall_s=wall,
                        stats=IndexStats(pages=len(ids), seconds={"embed": wall}))
    per_q = metrics_for(scores, ids, qids, ds.qrels)
    report.methods.append(MethodScores(f"{name} (late interaction)", _mean(per_q), per_q))
    for kind in sorted({ds.kinds[q] for q in qids if q in ds.kinds}):
        members = [q for q in qids if ds.kinds.get(q) == kind]
        report.kind_counts[kind] = len(members)
        report.by_kind[kind] = _mean(per_q, members)
    return report
