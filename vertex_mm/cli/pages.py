"""``vertex-mm pages index|search``: visual document retrieval from the command line.

    vertex-mm pages index reports/ scans/page-images/ --index pages.idx
    vertex-mm pages search --index pages.idx "quarterly revenue chart" -k 5

The embedder defaults to the offline region model (``local``: sees figures, does not read
text); ``--embedder colpali:/models/colqwen2-merged`` uses a local ColPali-family checkpoint.
Search must use the embedder the index was built with: the index refuses another space.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("pages", help="index PDFs/page images and search them by late interaction (ColPali style)")
    sub = p.add_subparsers(dest="pages_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", required=True, help="index directory")
    common.add_argument("--embedder", default="ocr-fused", help="'ocr-fused' (offline OCR-assisted retriever), 'local' (offline CNN-region model) or 'colpali:FOLDER'")

    ix = sub.add_parser("index", parents=[common], help="add PDFs, folders of PDFs, or folders of page images")
    ix.add_argument("sources", nargs="+")
    ix.add_argument("--dpi", type=float, default=144.0)
    ix.add_argument("--batch-size", type=int, default=8)
    ix.add_argument("--pool-factor", type=int, default=1, help="hierarchical token pooling for a new index")
    ix.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    ix.add_argument("--no-binary", action="store_true", help="do not store 1-bit codes")
    ix.add_argument("--replace", action="store_true", help="re-index documents already present")

    se = sub.add_parser("search", parents=[common], help="answer queries")
    se.add_argument("queries", nargs="+")
    se.add_argument("-k", type=int, default=5)
    se.add_argument("--mode", choices=["float", "binary"], default="float")
    se.add_argument("--candidates", type=int, default=64)
    se.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    from .pages_eval import register_eval

    register_eval(sub)
    p.set_defaults(func=run)


def make_embedder(spec: str) -> Any:
    """An embedder from a CLI spec: ``local`` or ``colpali:FOLDER``."""
    if spec == "local":
        from local_backend.pages import RegionConSEEmbedder

        return RegionConSEEmbedder()
    if spec.startswith("colpali:"):
        from ..pages.colpali_adapter import ColPaliEmbedder

        return ColPaliEmbedder.from_pretrained(spec.split(":", 1)[1])
    raise SystemExit(f"unknown --embedder {spec!r}: use 'local' or 'colpali:FOLDER'")


def _index(args: argparse.Namespace) -> int:
    if args.embedder == "ocr-fused":
        from local_backend.pages_fused.cli_hooks import index_command

        return index_command(args.sources, args.index)
    from pathlib import Path

    from ..late_interaction import MultiVectorIndex
    from ..pages import index_pages, iter_document_pages

    embedder = make_embedder(args.embedder)
    root = Path(args.index)
    if (root / "manifest.json").is_file():
        index = MultiVectorIndex.open(root)
    else:
        index = MultiVectorIndex.create(root, embedder.space, dtype=args.dtype, pool_factor=args.pool_factor, binary=not args.no_binary)
    pages = iter_document_pages(args.sources, dpi=args.dpi)
    counts = index_pages(embedder, index, pages, batch_size=args.batch_size, replace=args.replace,
                         on_page=lambda p: print(f"  {p.key}", file=sys.stderr))
    for doc, n in counts.items():
        print(f"indexed {doc}: {n} pages")
    stats = index.stats()
    print(f"{args.index}: {stats['pages']} pages, {stats['float_bytes_per_page']:,.0f} B/page float, "
          f"{stats['binary_bytes_per_page']:,.0f} B/page binary")
    return 0


def _search(args: argparse.Namespace) -> int:
    if args.embedder == "ocr-fused":
        from local_backend.pages_fused.cli_hooks import search_command

        return search_command(args.index, args.queries, k=args.k, as_json=args.json)
    from ..late_interaction import MultiVectorIndex

    index = MultiVectorIndex.open(args.index, verify=False)
    embedder = make_embedder(args.embedder)
    hits = index.search(embedder.embed_queries(args.queries), k=args.k, mode=args.mode, candidates=args.candidates, space=embedder.space)
    for query, q_hits in zip(args.queries, hits):
        if args.json:
            print(json.dumps({"query": query, "hits": [{"doc_id": h.doc_id, "page": h.page_number, "score": h.score} for h in q_hits]}))
            continue
        print(f"{query}")
        for rank, h in enumerate(q_hits, 1):
            print(f"  {rank}. {h.doc_id} p.{h.page_number}  score {h.score:.3f}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..errors import VertexMMError

    try:
        return _index(args) if args.pages_command == "index" else _search(args)
    except VertexMMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
