"""``vertex-mm pages index|search|eval|export``: page search from the command line.

    vertex-mm pages index reports/ scans/ --index pages.idx
    vertex-mm pages search --index pages.idx "quarterly revenue chart" -k 5
    vertex-mm pages eval DATASET
    vertex-mm pages export pages.idx --to qdrant pages.qdrant

``--embedder`` is a page-retriever spec (:func:`vertex_mm.registry.parse_page_retriever_spec`):
``ocr-fused`` (default: the offline OCR-assisted retriever, not ColPali), ``regions`` (alias
``local``: the offline CNN-region model, sees figures, does not read text) or
``colpali:FOLDER`` (a local ColPali, ColQwen2 or ColModernVBert checkpoint on transformers'
own classes; ``colqwen2:FOLDER`` and ``colmodernvbert:FOLDER`` also check the family), or
``gemini`` (gemini-embedding-2 on Google Cloud: each page sent as a one-page PDF, one vector
per page; ``--pages-per-vector N`` sends N pages as one content). ``pages search`` uses the retriever the
index was built with; a late-interaction index also refuses queries from another space.
Every result is printed under a line saying which retriever answered.

``pages index`` lists each file or page it could not read and indexes the rest. Exit status: 0
when every page is indexed, 1 when some were not, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from ._backend import add_page_content_arguments, backend_options, check_credentials, content_options

__all__ = ["register", "run"]

EMBEDDER_HELP = ("page retriever: 'ocr-fused' (default; offline OCR-assisted, not ColPali), 'regions' (alias 'local'; "
                 "offline CNN-region model), a ColPali-family checkpoint: 'colpali:FOLDER' (family read from "
                 "the folder), 'colqwen2:FOLDER', 'colmodernvbert:FOLDER', or 'gemini' (gemini-embedding-2 on Google "
                 "Cloud, one vector per page)")


INDEX_DESCRIPTION = """Index the pages of PDFs and page images (files, or folders searched recursively).

    vertex-mm pages index reports/ scans/ --index pages.idx
    vertex-mm pages index new.pdf --index pages.idx --update
    vertex-mm pages index reports/ --index pages-g2.idx --embedder gemini --project my-proj

--embedder picks the retriever (default ocr-fused: offline and OCR-assisted, not ColPali; the
PDF text layer, tesseract for scanned pages, with BM25, passages and a layout signal). An
existing --index is never replaced: --update adds the new sources to it (with the --embedder
that built it; pages it holds are skipped). Files or pages that cannot be read are listed and
the rest is indexed; a run with nothing to index writes no index.

Exit status: 0 when every page is indexed, 1 when some were not, 2 on a usage error.
"""

SEARCH_DESCRIPTION = """Answer text queries from a page index, best pages first.

    vertex-mm pages search --index pages.idx "quarterly revenue chart" -k 5
    vertex-mm pages search --index pages.idx "bar chart" "org chart" --json

Each query is answered by the retriever that built the index (a line says which); a gemini
index needs Google credentials or --api-endpoint. Prints rank, page id, file, page number and
score per hit, or one JSON line per query with --json.

Exit status: 0 with results, 2 on a usage error or a bad index.
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("pages", help="index PDFs and page images and search them (OCR-assisted, or late interaction)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="pages_command", metavar="ACTION", required=True)

    ix = sub.add_parser("index", help="index PDFs, page images, or folders of them", description=INDEX_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ix.add_argument("sources", nargs="+", metavar="SOURCE", help="a PDF, a page image, or a folder of them")
    ix.add_argument("--index", required=True, help="index directory")
    ix.add_argument("--embedder", default="ocr-fused", help=EMBEDDER_HELP)
    ix.add_argument("--workers", type=int, default=None, help="tesseract processes (ocr-fused; default: CPU count)")
    ix.add_argument("--dense-late-chunking", action="store_true",
                    help="ocr-fused: pool the dense passages from one encoding of each page (dense stage 2.7-2.9x "
                         "faster; nDCG a little different, see local_backend/pages/dense.py)")
    ix.add_argument("--dpi", type=float, default=None, help="page rendering for late interaction (default 144)")
    ix.add_argument("--batch-size", type=int, default=None,
                    help="pages per model call (late interaction, default 8) or per saved step (gemini, default 64)")
    ix.add_argument("--pool-factor", type=int, default=None,
                    help="hierarchical token pooling for a new late-interaction index (default 1)")
    ix.add_argument("--dtype", choices=["float16", "float32"], default=None,
                    help="vector storage of a new late-interaction index (default float16)")
    ix.add_argument("--no-binary", action="store_true", help="do not store 1-bit codes")
    ix.add_argument("--update", action="store_true",
                    help="add to the index at --index if it exists (an existing index is refused without it; "
                    "ocr-fused reads the new pages and fuses them with those it holds)")
    ix.add_argument("--replace", action="store_true",
                    help="with --update: index again the documents given that the index holds (pages they no longer have go)")
    add_page_content_arguments(ix, new_index=True)
    ix.set_defaults(func=run, dimension=None, pages_per_vector=None)  # None: not given (the defaults are filled in _index)

    se = sub.add_parser("search", help="answer queries", description=SEARCH_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    se.add_argument("queries", nargs="+", metavar="QUERY", help="a text query (several: each answered in turn)")
    se.add_argument("--index", required=True, help="index directory")
    se.add_argument("--embedder", default=None, help=EMBEDDER_HELP + " (default: the one that built the index)")
    se.add_argument("-k", type=int, default=5, help="pages per query (default 5)")
    se.add_argument("--mode", choices=["screened", "exact", "float", "binary", "muvera"], default=None,
                    help="late interaction: exact MaxSim through a certified screen (screened, the default: 16-bit "
                    "integers on x86 CPUs with AVX2, bfloat16 on CPUs with AMX or where it is native and the integer "
                    "kernel does not run, else the float32 scan) or the plain "
                    "float32 scan (exact; float is "
                    "its old name), or candidates by Hamming (binary) or "
                    "MUVERA encodings (muvera) reranked by MaxSim")
    se.add_argument("--candidates", type=int, default=None,
                    help="late interaction, binary and muvera modes: pages reranked per query (default 64)")
    se.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    add_page_content_arguments(se, new_index=False)
    se.set_defaults(func=run)

    from .pages_eval import register_eval
    from .pages_export import register_export

    register_eval(sub)
    register_export(sub)


def run(args: argparse.Namespace) -> int:
    return _index(args) if args.pages_command == "index" else _search(args)


def _index(args: argparse.Namespace) -> int:
    from ..index.load import index_kind
    from ..pages import expand_sources
    from ..pages.ingest import DEFAULT_DPI, nfc, refuse_held_elsewhere
    from ..registry import get_page_retriever, load_page_retriever, parse_page_retriever_spec
    from ._errors import UsageError

    spec = parse_page_retriever_spec(args.embedder)
    root = Path(args.index)
    family = "gemini" if spec.content else "late interaction" if spec.late_interaction else "ocr-fused"
    unreadable: list[str] = []  # files that cannot be opened; the pages of the others are indexed
    notes: list[str] = []  # names of a file reached by another name too (a link), which are dropped
    sources = expand_sources(args.sources, errors=unreadable, notes=notes)  # a path that is not there is said first
    for note in notes:
        print(f"vertex-mm pages index: note: {note}", file=sys.stderr)
    if not sources:  # nothing to index: no index is written (an empty one would only block the next run)
        where = ", ".join(args.sources)
        if unreadable:
            raise UsageError(f"no readable PDFs or page images in {where}:\n" + "\n".join(unreadable))
        raise UsageError(f"no PDFs or page images under {where}")
    existing = _existing_index(root, spec, update=args.update)  # refuses what this run would destroy
    _refuse_flags(args, family, _INDEX_FLAGS, f"{family} ones")
    if args.dpi is not None and not (math.isfinite(args.dpi) and args.dpi > 0):  # before anything is written
        raise UsageError(f"--dpi must be a positive number, got {args.dpi}")
    try:
        if spec.content:  # grows, and resumes: pages already embedded are skipped
            options: dict[str, Any] = {"batch_size": args.batch_size or 64, "replace": args.replace, "progress": True}
            check_credentials("gemini", backend_options(args, "gemini"))  # not one failed page after another
            if existing:  # it keeps how it was built: only a flag the user gave can ask for something else
                retriever = load_page_retriever(root, spec, **options, **content_options(args, new_index=False))
                built: Any = retriever
                _refuse_changes(root, args, {"--dimension": ("dimension", built.dimension),
                                             "--pages-per-vector": ("pages_per_vector", built.pages_per_vector)})
            else:
                args.dimension = 768 if args.dimension is None else args.dimension
                args.pages_per_vector = 1 if args.pages_per_vector is None else args.pages_per_vector
                retriever = get_page_retriever(spec, **options, **content_options(args, new_index=True))
            stats = retriever.index(sources, save_to=root)
        elif spec.late_interaction:
            skipped = 0
            options = {"dpi": DEFAULT_DPI if args.dpi is None else args.dpi, "batch_size": args.batch_size or 8,
                       "replace": args.replace}
            if existing:  # grows: documents are added to it
                retriever = load_page_retriever(root, spec, **options)
                mv: Any = retriever.mv_index  # type: ignore[attr-defined]
                _refuse_changes(root, args, {"--dtype": ("dtype", mv.dtype), "--pool-factor": ("pool_factor", mv.pool_factor),
                                             "--no-binary": ("no_binary", not mv.binary)})
                # --replace too: it reads the documents the index holds again, never another file of their name
                refuse_held_elsewhere(sources, {r["doc_id"]: str(r["metadata"].get("source", "")) for r in mv.rows()},
                                      by_doc=True)
                if not args.replace:  # documents it holds are skipped, as the other retrievers skip pages they hold
                    held_docs = {nfc(d) for d in mv.doc_ids()}  # an index built before ids were NFC holds NFD ones
                    skipped = sum(r.doc_id in held_docs for r in sources)
                    sources = [r for r in sources if r.doc_id not in held_docs]
            else:
                storage = {"dtype": args.dtype or "float16", "binary": not args.no_binary,
                           "pool_factor": 1 if args.pool_factor is None else args.pool_factor}
                retriever = get_page_retriever(spec, **storage, **options)
            stats = retriever.index(sources, save_to=root)
            stats.skipped = skipped
        elif existing:  # read and fused as one corpus: the new pages are read, and all are fused again
            retriever = load_page_retriever(root, spec, ocr_workers=args.workers)
            _refuse_changes(root, args, {"--dense-late-chunking": ("dense_late_chunking",
                                                                   getattr(retriever, "dense_late_chunking", False))})
            stats = retriever.update(sources, replace=args.replace, save_to=root)  # type: ignore[attr-defined]
        else:
            late = {"dense_late_chunking": True} if args.dense_late_chunking else {}
            retriever = get_page_retriever(spec, ocr_workers=args.workers, **late)
            stats = retriever.index(sources, save_to=root)
    except KeyboardInterrupt:
        return _index_interrupted(root, family, existed=bool(existing))
    for doc, n in stats.documents.items():
        print(f"indexed {doc}: {n} pages")
    # what was read and how fast; nothing of it when no page was (all held: "0 pages, 0 pages/s" says nothing)
    reading = "" if spec.late_interaction or spec.content or not stats.pages else f"{stats.reading()}, "
    speed = f"{stats.pages_per_second:.2f} pages/s " if stats.pages else ""
    held = f", {stats.skipped} already there (--replace reads them again)" if stats.skipped else ""
    if index_kind(root) is not None:
        print(f"indexed {stats.pages} pages with {retriever.name} into {root}{': ' if reading or speed else ' '}{reading}"
              f"{speed}({len(retriever.page_ids)} pages in the index{held})")
    else:  # every page failed: an empty index would only make the rerun ask for --update
        print(f"no index was written to {root}: not one page was {'read' if family == 'ocr-fused' else 'embedded'}")
    for e in unreadable:
        print(f"  unreadable: {e}")
    # gemini's page failures are mostly the service's refusals (quota, limits), not reading
    label = "not indexed" if spec.content else "unreadable"
    for e in stats.errors:
        print(f"  {label}: {e}")
    return 1 if unreadable or stats.errors else 0


def _index_interrupted(root: Path, family: str, *, existed: bool) -> int:
    """Ctrl-C during ``pages index``: say what was kept. gemini saves after every batch and late
    interaction after every document (an interrupted run resumes with --update); ocr-fused writes
    its index once, at the end, so an interrupted run kept nothing and left an earlier index as
    it was. Returns 130."""
    if family == "ocr-fused":
        kept = f"nothing was saved ({root} is as it was)" if existed else "nothing was saved (no index was written)"
        print(f"vertex-mm pages index: interrupted: {kept}; run the same command again", file=sys.stderr)
    else:
        done = "batches" if family == "gemini" else "documents"  # the unit each saves after
        print(f"vertex-mm pages index: interrupted: the {done} finished before it (if any) are kept in {root}; to "
              "index the rest, run the same command with --update (pages it holds are skipped)", file=sys.stderr)
    return 130


# flag -> (its dest, the retrievers it applies to): a flag given for another one is refused, not ignored
_INDEX_FLAGS = {
    "--workers": ("workers", {"ocr-fused"}), "--dense-late-chunking": ("dense_late_chunking", {"ocr-fused"}),
    "--dpi": ("dpi", {"late interaction"}),
    "--batch-size": ("batch_size", {"late interaction", "gemini"}),
    "--pool-factor": ("pool_factor", {"late interaction"}), "--dtype": ("dtype", {"late interaction"}),
    "--no-binary": ("no_binary", {"late interaction"}), "--dimension": ("dimension", {"gemini"}),
    "--pages-per-vector": ("pages_per_vector", {"gemini"}), "--api-endpoint": ("api_endpoint", {"gemini"}),
    "--project": ("project", {"gemini"}), "--location": ("location", {"gemini"}),
    "--document-ocr": ("document_ocr", {"gemini"}),
}
_SEARCH_FLAGS = {"--mode": ("mode", {"late interaction"}), "--candidates": ("candidates", {"late interaction"}),
                 "--document-ocr": ("document_ocr", {"gemini"})}


def _refuse_flags(args: argparse.Namespace, family: str, flags: dict[str, tuple[str, set[str]]], what: str) -> None:
    from ._errors import UsageError

    for flag, (dest, families) in flags.items():
        if getattr(args, dest, None) not in (None, False) and family not in families:
            raise UsageError(f"{flag} applies to {' and '.join(sorted(families))} page indexes only, not to {what}")


def _refuse_changes(root: Path, args: argparse.Namespace, flags: dict[str, tuple[str, Any]]) -> None:
    """An existing index keeps how it was built: a flag asking for something else is refused."""
    from ._errors import UsageError

    for flag, (dest, held) in flags.items():
        given = getattr(args, dest)
        if given not in (None, False) and given != held:
            raise UsageError(f"{flag} {given}: {root} was built with {held}, which it keeps; leave {flag} out, "
                             "or choose another --index")


def _existing_index(root: Path, spec: Any, *, update: bool) -> bool:
    """True when ``root`` holds an index this run may add to (``--update``), False when there is
    none; raises :class:`UsageError` for one of another kind or embedder, or without ``--update``."""
    from ..index import MultiVectorIndex, index_kind
    from ..index.manifest import Manifest, locate_index
    from ..pages.content_retriever import KIND as CONTENT_KIND
    from ._errors import UsageError

    kind = index_kind(root)
    if kind is None:
        return False
    manifest = Manifest.read(locate_index(root))
    built_by = str(manifest.config.get("embedder") or manifest.config.get("name") or "")
    if kind == CONTENT_KIND:
        held, same = f"a {built_by} page index ({manifest.space})", spec.content and spec.name == built_by
    elif kind == MultiVectorIndex.kind:
        held, same = f"a late-interaction page index built by {built_by or 'a page model'}", spec.late_interaction
    elif kind == "ocr-fused":
        held = f"an {built_by or kind} page index of {manifest.count} pages"
        same = not spec.content and not spec.late_interaction and spec.name == built_by
    else:
        raise UsageError(f"{root} holds a {kind!r} index, not a page index; choose another --index")
    if not same:
        raise UsageError(f"{root} already holds {held}; this run builds {spec.name!r}. Pass --embedder "
                         f"{built_by or '...'} --update to add these sources to it, or choose another --index")
    if not update:
        raise UsageError(f"{root} already holds {held}; pass --update to add these sources to it (pages it holds are "
                         "skipped; --update --replace indexes them again), or choose another --index")
    return True


def _search(args: argparse.Namespace) -> int:
    from ..index import MultiVectorIndex, index_kind
    from ..pages.content_retriever import KIND as CONTENT_KIND
    from ..registry import load_page_retriever
    from ._errors import UsageError

    if args.k < 1:
        raise UsageError(f"-k must be at least 1, got {args.k}")
    for query in args.queries:  # every retriever refuses it alike (ocr-fused would rank pages at random)
        if not query.strip():
            raise UsageError(f"query must be a non-empty string, got {query!r}")
    kind = index_kind(args.index)
    search_options: dict[str, Any] = {}
    if kind == MultiVectorIndex.kind:
        search_options = {"mode": args.mode or "screened", "candidates": 64 if args.candidates is None else args.candidates}
    else:
        _refuse_flags(args, str(kind), _SEARCH_FLAGS, f"{'a gemini' if kind == CONTENT_KIND else 'an ocr-fused'} one")
        if kind == CONTENT_KIND:
            search_options = content_options(args, new_index=False)
    retriever = load_page_retriever(args.index, args.embedder, verify=False, **search_options)
    if kind == CONTENT_KIND:  # once the index is known to be searched with gemini
        check_credentials("gemini", search_options["embedder_options"])
    hits = retriever.search(args.queries, k=args.k)
    if not args.json:
        print(f"answered by: {retriever.name} ({retriever.description})")
    for query, q_hits in zip(args.queries, hits):
        if args.json:
            print(json.dumps({"query": query, "retriever": retriever.name, "hits": [
                {"page_id": h.page_id, "doc_id": h.doc_id, "file": h.source, "page": h.page_number, "score": h.score,
                 "components": dict(h.components)} for h in q_hits]}))
            continue
        print(query)
        for rank, h in enumerate(q_hits, 1):
            print(f"  {rank}. {h.page_id}  ({os.path.basename(h.source)} p.{h.page_number})  score {h.score:.3f}")
    return 0

