"""Evaluation of page retrieval: BEIR / ViDoRe-layout data sets (:mod:`.dataset`, the one
loader) and the method table (:mod:`.harness`) that ``vertex-mm pages eval`` prints. The
metrics are :mod:`vertex_mm.evaluation.metrics` (trec_eval-compatible)."""

from __future__ import annotations

from .dataset import PageDataset, load_dataset
from .harness import EvalReport, MethodScores, evaluate, format_report, query_metrics

__all__ = ["EvalReport", "MethodScores", "PageDataset", "evaluate", "format_report", "load_dataset", "query_metrics"]
