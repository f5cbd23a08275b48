"""``vertex-mm search``: the photos of an index nearest to a text or an image query.

    vertex-mm search photos.idx "a cat on a sofa" -k 5
    vertex-mm search photos.idx --image query.jpg
    vertex-mm search photos.idx "a red motorcycle" --filter folder=garage --json

The query is embedded by the backend that built the index (its manifest names the space), the
way its items were: an index of contents (``vertex-mm migrate``, gemini) gets the query as a
content, in the query form of its task. ``--backend`` overrides the backend, and a backend of
another space is refused rather than answered.
Prints rank, cosine score and id per hit, or one JSON object per hit with ``--json``.

Exit status: 0 with results, 1 when nothing matched, 2 on a usage error or a bad index.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._jsonl import json_line
from ._backend import add_backend_arguments, backend_options

__all__ = ["HELP", "add_arguments", "run"]


HELP = "search an index with a text or image query"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("index", metavar="IDX", help="index directory written by `vertex-mm index`")
    p.add_argument("query", nargs="?", metavar="QUERY", help="text query")
    p.add_argument("--image", metavar="FILE", help="image query (instead of, or as well as, a text query)")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="keep hits whose metadata KEY equals VALUE (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit")
    add_backend_arguments(p, default=None)


def load_vector_index(path: str, *, note: str = "") -> Any:
    """The vector index at ``path``; a page index is a :class:`UsageError` naming the command that
    searches it (``note`` goes after "is a page index")."""
    from ..index import BaseIndex, IndexKindError, MultiVectorIndex
    from ..index.load import index_kind
    from ..registry import index_loader
    from ._errors import UsageError

    try:
        return BaseIndex.load(path)
    except IndexKindError as exc:
        kind = index_kind(path)
        if kind == MultiVectorIndex.kind or index_loader(kind or "") is not None:
            raise UsageError(f"{path} is a page index{note}: search it with vertex-mm pages search --index "
                             f"{path} QUERY") from exc
        raise


def run(args: argparse.Namespace) -> int:
    from ..index import Filter
    from ..index.build import embedder_for_index, search_index
    from ._errors import UsageError

    queries: list[tuple[str | None, Any]] = []
    if args.query:
        queries.append((args.query, None))
    if args.image:
        queries.append((None, args.image))
    if not queries:
        raise UsageError("give a text QUERY or --image FILE")
    if args.k < 1:
        raise UsageError(f"-k must be >= 1, got {args.k}")
    pairs = [_key_value(f) for f in args.filter]
    index = load_vector_index(args.index)
    flt = Filter(equals=_typed_values(index, pairs)) if pairs else None
    embedder = embedder_for_index(index, args.backend, **backend_options(args, args.backend or index.space.backend))
    try:
        results = search_index(index, embedder, queries, k=args.k, filter=flt)
    finally:
        embedder.close()
    found = False
    for (text, image), hits in zip(queries, results):
        label = text if text is not None else f"[image] {image}"
        if not args.json:
            print(f"{label}:")
        for rank, hit in enumerate(hits, 1):
            found = True
            if args.json:
                print(json_line({"query": label, "rank": rank, "id": hit.id, "score": round(hit.score, 6),
                                 "metadata": dict(hit.metadata)}))
            else:
                print(f"  {rank:>3}  {hit.score:7.4f}  {hit.id}")
        if not hits and not args.json:
            print("  (no results)")
    return 0 if found else 1


def _typed_values(index: Any, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``--filter`` values as the index stores them: ``year=2020`` is the number 2020 where the
    index holds numbers under ``year`` (a string never equals one), ``fav=true`` the boolean,
    ``null`` None; a value stays text where the index holds text there (a folder named 2020)."""
    import json

    wanted: dict[str, Any] = {}
    for key, text in pairs:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        wanted[key] = parsed if not isinstance(parsed, (dict, list)) else text
    typed = {k for k, v in wanted.items() if not isinstance(v, str)}
    held: dict[str, set[type]] = {k: set() for k in typed}
    if typed:
        for _, _, metas in index.iter_rows():
            for meta in metas:
                for k in typed:
                    if k in meta:
                        held[k].add(type(meta[k]))
    out: dict[str, Any] = {}
    for key, text in pairs:
        value = wanted[key]
        kinds = held.get(key, set())
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and bool(kinds & {int, float})
        same = value is None and type(None) in kinds or isinstance(value, bool) and bool in kinds
        out[key] = value if number or same else text
    return out


def _key_value(text: str) -> tuple[str, str]:
    from ._errors import UsageError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--filter takes KEY=VALUE, got {text!r}")
    return key, value
