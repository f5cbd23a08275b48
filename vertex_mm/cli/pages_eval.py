"""``vertex-mm pages eval DIR``: evaluate offline page search on a BEIR-layout data set.

The same command is meant to live at ``vertex-mm pages eval``: the pages command module adds
it to its own sub-parsers with :func:`register_eval` (one line). Until then it stands alone.

DIR holds ``corpus/`` (page images, or PDFs rendered first), ``queries.jsonl`` and
``qrels/<split>.tsv``; or, like the project fixture ``tests/fixtures/pagesearch``, a
``manifest.jsonl`` of PDF pages instead of ``corpus/``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register_eval", "add_eval_arguments", "run", "EVAL_MODELS"]

# Retrievers this command can evaluate. The OCR-assisted one is the offline default; it is
# not ColPali (see local_backend.pages_fused). "local" is the CNN-region multi-vector embedder
# alone; "colpali:FOLDER" a local ColPali-family checkpoint, both scored by late interaction.
EVAL_MODELS = ("ocr-fused", "local", "colpali:FOLDER")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="data set folder (BEIR layout: corpus/, queries.jsonl, qrels/)")
    parser.add_argument("--model", default="ocr-fused", metavar="NAME",
                        help="page retriever to evaluate: ocr-fused (default; OCR-assisted fused retriever, not "
                             "ColPali), local (CNN-region multi-vector embedder) or colpali:FOLDER")
    parser.add_argument("--split", default="test", help="qrels/<split>.tsv to score (default: test)")
    parser.add_argument("--workers", type=int, default=None, help="tesseract processes (default: CPU count)")
    parser.add_argument("--no-cache", action="store_true", help="OCR every page again instead of using the OCR cache")
    parser.add_argument("--no-ocr-baseline", action="store_true",
                        help="skip the tesseract-on-every-page + BM25 baseline (the slowest part)")
    parser.add_argument("--min-ndcg5", type=float, default=None,
                        help="exit with status 1 when the fused nDCG@5 is below this (for CI)")


def register_eval(subparsers: Any, name: str = "eval") -> argparse.ArgumentParser:
    """Add the eval command under ``name`` to an ``add_subparsers()`` object."""
    parser = subparsers.add_parser(name, help="evaluate offline page search on a BEIR-layout data set",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_eval_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _embedder(spec: str) -> Any:
    from vertex_mm.errors import InputError

    if spec == "local":
        from local_backend.pages import RegionConSEEmbedder

        return RegionConSEEmbedder()
    if spec.startswith("colpali:"):
        from vertex_mm.pages.colpali_adapter import ColPaliEmbedder

        return ColPaliEmbedder.from_pretrained(spec.split(":", 1)[1])
    raise InputError(f"unknown --model {spec!r}: use one of {', '.join(EVAL_MODELS)}", input_name="--model")


def run(args: argparse.Namespace) -> int:
    from vertex_mm.errors import VertexMMError

    try:
        from local_backend.pages_fused.dataset import load_dataset
        from local_backend.pages_fused.evaluate import evaluate, format_report

        log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
        ds = load_dataset(args.dir, args.split)
        if args.model == "ocr-fused":
            report = evaluate(ds, ocr_workers=args.workers, use_ocr_cache=not args.no_cache,
                              ocr_baseline=not args.no_ocr_baseline, log=log)
        else:
            from local_backend.pages_fused.evaluate import evaluate_multivector

            report = evaluate_multivector(ds, _embedder(args.model), args.model, log=log)
    except VertexMMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    format_report(report, sys.stdout)
    if args.min_ndcg5 is not None and report.fused.mean["ndcg5"] < args.min_ndcg5:
        print(f"FAIL: nDCG@5 {report.fused.mean['ndcg5']:.3f} < {args.min_ndcg5}", file=sys.stderr)
        return 1
    return 0
