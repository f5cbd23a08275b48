"""``vertex-mm embed``: embed every image of a folder, list file or bucket into a file; resumable.

    vertex-mm embed photos/ --out photos.jsonl --project my-proj --rpm 600
    vertex-mm embed gs://my-bucket/photos/ --out photos.parquet --dimension 512
    vertex-mm embed list.txt --out out.jsonl --backend local --cache ~/.cache/vertex-mm/emb.sqlite

SOURCE is a folder (searched recursively for .jpg/.jpeg/.png/.gif/.bmp/.webp), a list file
(one path or gs:// URI per line), or gs://bucket/prefix. Each result is appended to the output
as it arrives. Run the same command again after Ctrl-C, a crash or kill -9: what is done is
skipped, and each input ends up in the output exactly once. Inputs that failed are listed in
OUT.errors.jsonl and tried again on the next run.

JSONL lines hold id, content_hash, space and embedding. Parquet (needs pyarrow) has the same
columns, for `bq load --source_format=PARQUET`; its journal is kept in OUT.journal.jsonl.

Exit status: 0 when every input is done, 1 when some failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._backend import add_backend_arguments, backend_options

__all__ = ["HELP", "add_arguments", "run"]


HELP = "embed a folder, list file or gs:// prefix of images into JSONL or Parquet (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="folder, list file, or gs://bucket/prefix")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (.jsonl or .parquet)")
    add_backend_arguments(p, default="vertex")
    p.add_argument("--dimension", type=int, help="embedding length (multimodalembedding@001: 128, 256, 512 or 1408)")
    p.add_argument("--rpm", type=float, metavar="N",
                   help="requests per minute, the client-side rate limit: set it to your project's quota "
                        "(remote default 120, the documented floor)")
    p.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (remote default 10)")
    p.add_argument("--cache", metavar="PATH", help="sqlite embedding cache: repeated images cost nothing")
    p.add_argument("--format", choices=("jsonl", "parquet"), help="default: from the --out suffix")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _batch_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.rpm is not None:
        options["requests_per_minute"] = args.rpm
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    if args.cache:
        options["cache"] = args.cache
    return options


def run(args: argparse.Namespace) -> int:
    from ..jobs import run_job
    from ..registry import get_embedder

    embedder = get_embedder(args.backend, **backend_options(args))
    try:
        embedder.configure_batch(**_batch_options(args))
        embedder.space(args.dimension)  # a bad --dimension fails before any work
        report = run_job(embedder, args.source, args.out, dimension=args.dimension, fmt=args.format,
                         progress=not args.no_progress)
    finally:
        embedder.close()
    print(f"vertex-mm embed: {report.summary()}", file=sys.stderr)
    for line in report.first_errors:
        print(f"  {line}", file=sys.stderr)
    if report.interrupted:
        return 130
    return 1 if report.failed else 0
