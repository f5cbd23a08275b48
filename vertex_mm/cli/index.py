"""``vertex-mm index``: embed every photo of a folder into a saved, searchable index.

    vertex-mm index photos/ --out photos.idx                       # offline, local model
    vertex-mm index photos/ --out photos.idx --update               # add new photos, drop deleted ones
    vertex-mm index photos/ --out photos.idx --backend vertex --project my-proj --dimension 512
    vertex-mm index photos/ --out photos.idx --kind faiss           # HNSW, for very large folders

The folder is searched recursively for .jpg/.jpeg/.png/.gif/.bmp/.webp. Ids are paths relative
to the folder. The index is one directory (vectors.npy, items.jsonl, manifest.json) that
``vertex-mm search`` and ``vertex-mm serve`` open; its manifest records the embedding space,
so queries are embedded by the same model. Photos that fail to embed are listed and skipped.

Exit status: 0 when every photo is indexed, 1 when some were skipped, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._backend import add_backend_arguments, backend_options

__all__ = ["HELP", "add_arguments", "run"]


HELP = "embed a folder of photos into a searchable index directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="folder of photos (searched recursively)")
    p.add_argument("--out", required=True, metavar="IDX", help="index directory to write")
    add_backend_arguments(p, default="local", dimension="embedding length (default: the backend's)")
    p.add_argument("--kind", choices=("flat", "faiss"), default="flat",
                   help="flat: exact search (default); faiss: approximate HNSW, needs vertex-mm[index]")
    p.add_argument("--update", action="store_true",
                   help="open IDX if it exists: embed only photos it lacks and drop photos no longer on disk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..errors import EmbeddingSpaceMismatchError
    from ..index import BaseIndex, IndexConfig, create_index
    from ..index.build import find_images, index_images
    from ..registry import get_embedder
    from ._errors import UsageError

    out = Path(args.out)
    photos = find_images(args.folder)
    if not photos:
        raise UsageError(f"no images under {args.folder}")
    if out.exists() and not args.update:
        raise UsageError(f"{out} exists; pass --update to add to it, or choose another --out")
    embedder = get_embedder(args.backend, **backend_options(args))
    space = embedder.space(args.dimension)
    index: BaseIndex
    if args.update and out.exists():
        index = BaseIndex.load(out)
        if space != index.space:  # the task is not compared, as in EmbeddingSpace.require_same
            raise EmbeddingSpaceMismatchError(
                f"{out} holds vectors in embedding space {index.space.id!r}; --backend {args.backend} with "
                f"these flags embeds in {space.id!r}, and vectors of two spaces are not comparable: pass the "
                "index's backend and --dimension, or choose another --out")
    else:
        index = create_index(IndexConfig(space), args.kind)
    root = Path(args.folder).resolve()
    ids = {p.resolve().relative_to(root).as_posix(): p for p in photos}
    todo = [p for i, p in ids.items() if i not in index]
    gone = [i for i in index.ids if i not in ids]
    try:
        _, skipped = index_images(embedder, todo, root=root, dimension=space.dimension, index=index,
                                  progress=not args.no_progress)
    finally:
        embedder.close()
    if gone:
        index.delete(gone)
    index.save(out)
    print(f"vertex-mm index: {len(index)} photos in {out} (space {index.space.id}); "
          f"{len(todo) - len(skipped)} embedded now, {len(gone)} removed, {len(skipped)} skipped", file=sys.stderr)
    for id_, why in list(skipped.items())[:20]:
        print(f"  skipped {id_}: {why}", file=sys.stderr)
    return 1 if skipped else 0
