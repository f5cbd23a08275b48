"""Run the evaluation table on a dataset: method x nDCG@5 (plus nDCG@10, recall, MRR).

    python -m vertex_mm.pages.eval tests/fixtures/pdfs            # offline default embedder
    python -m vertex_mm.pages.eval DATA --colpali /models/colpali-v1.3-merged

Methods follow the ViDoRe paper's table: late interaction over the multi-vector embedder (float,
and binarised with rerank), the same embedder mean-pooled to one vector, and OCR + BM25.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from .dataset import PageDataset, load_dataset
from .metrics import evaluate_run
from .retrievers import EmbeddedCorpus, LateInteractionRetriever, MeanPooledRetriever, OcrBm25Retriever

__all__ = ["evaluate_methods", "format_table", "main"]


def evaluate_methods(
    dataset: PageDataset,
    embedder: Any,
    *,
    ocr: bool = True,
    binary_candidates: int = 8,
    log: Any = None,
) -> dict[str, dict[str, float]]:
    """Metrics per method name; ``embedder`` is a :class:`MultiVectorEmbedder`."""
    say = log or (lambda msg: None)
    pages = list(dataset.iter_pages())
    say(f"{len(pages)} pages, {len(dataset.queries)} queries")
    t0 = time.perf_counter()
    corpus = EmbeddedCorpus(embedder, pages)
    say(f"embedded pages in {time.perf_counter() - t0:.1f}s ({corpus.pages.tokens.shape[0] / len(pages):.0f} vectors/page)")
    methods: list[Any] = [
        LateInteractionRetriever(corpus),
        LateInteractionRetriever(corpus, mode="binary", candidates=binary_candidates),
        MeanPooledRetriever(corpus),
    ]
    if ocr:
        t0 = time.perf_counter()
        methods.append(OcrBm25Retriever(pages))
        say(f"OCR of {len(pages)} pages in {time.perf_counter() - t0:.1f}s")
    results = {}
    for m in methods:
        results[m.name] = evaluate_run(m.search(dataset.queries, k=10), dataset.qrels)
    return results


def format_table(results: dict[str, dict[str, float]]) -> str:
    cols = ["ndcg@5", "ndcg@10", "recall@5", "mrr@10"]
    width = max(len("method"), *(len(n) for n in results))
    lines = [f"{'method':<{width}}  " + "  ".join(f"{c:>8}" for c in cols)]
    lines.append("-" * len(lines[0]))
    for name, m in results.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{m[c]:>8.3f}" for c in cols))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vertex_mm.pages.eval", description=__doc__.split("\n")[0])
    ap.add_argument("dataset", help="folder in the BEIR/ViDoRe layout (queries.jsonl, qrels/, corpus/)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--dpi", type=float, default=144)
    ap.add_argument("--colpali", metavar="FOLDER", help="a local ColPali/ColQwen2/ColSmol checkpoint instead of the offline default")
    ap.add_argument("--no-ocr", action="store_true", help="skip the OCR + BM25 baseline")
    args = ap.parse_args(argv)
    dataset = load_dataset(args.dataset, split=args.split, dpi=args.dpi)
    if args.colpali:
        from ..colpali_adapter import ColPaliEmbedder

        embedder: Any = ColPaliEmbedder.from_pretrained(args.colpali)
    else:
        from local_backend.pages import RegionConSEEmbedder

        embedder = RegionConSEEmbedder()
    results = evaluate_methods(dataset, embedder, ocr=not args.no_ocr, log=lambda m: print(f"# {m}", file=sys.stderr))
    print(format_table(results))
    return 0
