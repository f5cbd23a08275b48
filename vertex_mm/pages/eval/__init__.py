"""Evaluation of page retrieval: ViDoRe/BEIR-layout datasets, trec_eval-compatible metrics, and
the baseline table (late interaction, binarised, mean-pooled single vector, OCR + BM25)."""

from __future__ import annotations

from .dataset import PageDataset, corpus_id, load_dataset
from .metrics import evaluate_run, mrr, ndcg_at_k, recall_at_k

__all__ = ["PageDataset", "corpus_id", "evaluate_run", "load_dataset", "mrr", "ndcg_at_k", "recall_at_k"]
