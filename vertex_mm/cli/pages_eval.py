"""``vertex-mm pages eval DIR``: evaluate page search on a BEIR-layout data set.

DIR holds ``queries.jsonl``, ``qrels/<split>.tsv`` and the pages: a ``corpus/`` folder of PDFs
and page images, or a ``corpus.jsonl`` / ``manifest.jsonl`` list of pages (like the project
fixture ``tests/fixtures/pagesearch``); see :mod:`vertex_mm.pages.eval.dataset`. The table
(:mod:`vertex_mm.pages.eval.harness`) has the retriever, its variants (components alone and
ablations for ``ocr-fused``; binarised and mean-pooled for late interaction) and the
``tesseract OCR + BM25`` baseline, and ends with a ``RESULT`` line.

Its recall columns at 1 and 5 are the information-retrieval recall@k: the share of a query's
relevant pages found in its top k, so a query with two relevant pages scores 0.5 at k=1 at
best. ``vertex-mm eval-images`` prints the hit rate instead (Hit@k: any relevant photo in the
top k); see :mod:`vertex_mm.evaluation.metrics`.

``--split`` defaults to ``test``, the split a BEIR data set (ViDoRe's among them) ships, and
every test run says so on stderr: tune on dev, and report a test score once, counting the runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._backend import add_page_content_arguments, check_credentials, content_options

__all__ = ["TEST_NOTICE", "add_eval_arguments", "register_eval", "run"]

TEST_NOTICE = ("(scoring the test split: tune on --split dev; report a test score once, at the end, "
               "and count every test run, this one included)")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="data set folder (BEIR layout: corpus/, queries.jsonl, qrels/)")
    parser.add_argument("--embedder", "--model", dest="embedder", default="ocr-fused", metavar="SPEC",
                        help="page retriever to evaluate: ocr-fused (default; OCR-assisted fused retriever, not "
                             "ColPali), regions (alias local; CNN-region multi-vector model) or a ColPali-family "
                             "checkpoint: colpali:FOLDER, colqwen2:FOLDER, colmodernvbert:FOLDER, or gemini "
                             "(gemini-embedding-2, one vector per page)")
    parser.add_argument("--split", default="test",
                        help="qrels/<split>.tsv to score (default: test, the split BEIR data sets ship; "
                             "tune on dev)")
    parser.add_argument("--dpi", type=float, default=144.0, help="page rendering for late interaction")
    parser.add_argument("--workers", type=int, default=None, help="tesseract processes (default: CPU count)")
    parser.add_argument("--no-cache", action="store_true", help="OCR every page again instead of using the OCR cache")
    parser.add_argument("--no-ocr-baseline", action="store_true",
                        help="skip the tesseract-on-every-page + BM25 baseline (the slowest part)")
    parser.add_argument("--min-ndcg5", type=float, default=None,
                        help="exit with status 1 when the retriever's nDCG@5 is below this (for CI)")
    add_page_content_arguments(parser, new_index=True)


def register_eval(subparsers: Any, name: str = "eval") -> argparse.ArgumentParser:
    """Add the eval command under ``name`` to an ``add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help="evaluate page search on a BEIR-layout data set",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_eval_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..pages.eval import evaluate, format_report, load_dataset
    from ..registry import get_page_retriever, parse_page_retriever_spec

    spec = parse_page_retriever_spec(args.embedder)
    given = [flag for flag, dest in (("--api-endpoint", "api_endpoint"), ("--project", "project"),
                                     ("--location", "location"), ("--document-ocr", "document_ocr"))
             if getattr(args, dest, None)]
    if given and not spec.content:
        from ._errors import UsageError

        raise UsageError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to --embedder gemini only, "
                         f"not {args.embedder!r}")
    ocr_options = {"ocr_workers": args.workers, "use_ocr_cache": not args.no_cache}
    ds = load_dataset(args.dir, args.split)
    if args.split == "test":  # the default: nothing else would say the held-out split was looked at
        print(TEST_NOTICE, file=sys.stderr, flush=True)
    # Late interaction is scored on float32 pages, as embedded: the table measures the model,
    # not the storage (the index stores float16 by default).
    if spec.content:
        options = content_options(args, new_index=True)
        check_credentials("gemini", options["embedder_options"])  # before the data set is sent page by page
        retriever = get_page_retriever(spec, progress=True, **options)
    elif spec.late_interaction:
        retriever = get_page_retriever(spec, dpi=args.dpi, dtype="float32")
    else:
        retriever = get_page_retriever(spec, **ocr_options)
    baselines = [] if args.no_ocr_baseline else [get_page_retriever("ocr-bm25", **ocr_options)]
    report = evaluate(ds, retriever, baselines=baselines, log=lambda s: print(s, file=sys.stderr, flush=True))
    format_report(report, sys.stdout)
    if args.min_ndcg5 is not None and report.main.mean["ndcg5"] < args.min_ndcg5:
        print(f"FAIL: nDCG@5 {report.main.mean['ndcg5']:.3f} < {args.min_ndcg5}", file=sys.stderr)
        return 1
    return 0
