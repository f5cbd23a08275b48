"""``vertex-mm pages export INDEX --to qdrant|lancedb PATH``: a late-interaction page index into
an embedded vector store that scores MaxSim itself (no server to run).

    vertex-mm pages export pages.idx --to qdrant pages.qdrant      # qdrant-client local mode
    vertex-mm pages export pages.idx --to lancedb pages.lancedb    # a LanceDB folder

Every live page becomes one point / row with its token matrix and its page id, document,
page number and metadata; see :mod:`vertex_mm.index.export.qdrant` and
:mod:`vertex_mm.index.export.lancedb`. Exporting again updates the same pages. INDEX must be a
multi-vector index (``pages index --embedder regions`` or ``colpali:DIR``).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register_export", "run"]


def register_export(subparsers: Any, name: str = "export") -> argparse.ArgumentParser:
    """Add the export command under ``name`` to an ``add_subparsers()`` object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help="export a late-interaction page index to Qdrant or LanceDB (embedded)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("index", metavar="INDEX", help="multi-vector page index directory")
    p.add_argument("--to", required=True, choices=["qdrant", "lancedb"], help="target store")
    p.add_argument("path", metavar="PATH", help="store folder (created if needed)")
    p.add_argument("--collection", default="pages", help="Qdrant collection / LanceDB table name (default: pages)")
    p.add_argument("--replace", action="store_true",
                   help="write a new collection or table in place of the old one; searches see the old pages until it "
                        "is whole (Qdrant: COLLECTION becomes an alias of a new collection)")
    p.add_argument("--normalize", action="store_true",
                   help="LanceDB: store vectors at unit length (it scores multivectors by cosine only)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..index import MultiVectorIndex

    index = MultiVectorIndex.load(args.index, verify=False)
    if args.to == "qdrant":
        from ..index.export.qdrant import export_qdrant

        client = export_qdrant(index, args.path, collection=args.collection, replace=args.replace)
        try:
            count = int(client.count(args.collection).count)
        finally:
            client.close()
    else:
        from ..index.export.lancedb import export_lancedb

        table = export_lancedb(index, args.path, table=args.collection, replace=args.replace, normalize=args.normalize)
        count = int(table.count_rows())
    print(f"exported {len(index)} pages of {index.space.id} to {args.to} {args.path} "
          f"({args.collection!r} now holds {count} pages)")
    return 0
