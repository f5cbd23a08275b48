"""``vertex-mm migrate``: re-embed an index (or a JSONL / Parquet of embeddings) with gemini-embedding-2.

    vertex-mm migrate photos.idx --to gemini-embedding-2 --out photos-g2.idx --project my-proj
    vertex-mm migrate photos.idx --to gemini-embedding-2 --dimension 768 --task retrieval_document \\
        --out photos-g2.idx --queries queries.txt           # and report how the top-k moved
    vertex-mm migrate photos.jsonl --root photos/ --out photos-g2.idx --rpm 600
    vertex-mm migrate photos.parquet --root photos/ --out photos-g2.idx       # vertex-mm embed's Parquet
    vertex-mm migrate photos.idx --backend local --out rehearsal.idx   # rehearse offline
    vertex-mm migrate photos.idx --out photos-g2.idx --rpm 600 --dry-run  # cost, time, what would fail

multimodalembedding@001 retires on 2027-04-01, and its vectors cannot be compared with
anyone else's: every item is embedded again from its source (the path the index recorded,
its gs:// id or storage.googleapis.com URL, ROOT/id, or its id when that is an absolute
path), or from its text (a text item: metadata "text"), into a NEW index in the new space;
the old one is only read, and --out may not name it nor any other existing index or file.
Each source is sent as the kind it is (gemini: an image, PDF, audio clip or video, as
`vertex-mm embed` sent it). An image in a format the target does not take (GIF for
gemini-embedding-2) is sent re-encoded as PNG. In a JSONL source the last line of an id wins.
Results are journalled as they arrive (NEW.journal.jsonl): after Ctrl-C, SIGTERM or a crash
the same command resumes. Keep the journal while you may rerun: it is what makes a rerun
free. Items that failed or have no source are listed (the first 20) and all written to
NEW.errors.jsonl. With --queries (one per line, or JSONL {"text": ...}) each query is
searched in both indexes, embedded as `vertex-mm search` embeds it for each, and the overlap
of the two top-k lists is printed. --dry-run sends and writes nothing: it says how many items
are left to embed, reads each of their sources and lists those that would fail before
sending, or would be cut at the token budget, and estimates the cost (gemini) and the time
at --rpm.

Exit status: 0 when every item moved, 1 when some could not (listed) or --queries could not be
compared (said why), 2 on a usage error (--out taken, --queries unreadable, or given with a
source that is not an index folder, a query --task) or when a resume asks for another space
than the journal's (--backend, --dimension, --task must stay the same; or use a new --out),
130 on Ctrl-C, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._backend import add_backend_arguments, add_rate_arguments, backend_options, rate_options
from ._signals import SIGTERM_EXIT, sigterm_as_interrupt

__all__ = ["HELP", "add_arguments", "run"]

#: Problem lines printed (missing sources, failures); all are in NEW.errors.jsonl.
FIRST_LINES = 20

HELP = "re-embed an index with gemini-embedding-2 (or another backend) into a new index, resumably"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="INDEX",
                   help="index folder written by `vertex-mm index`, or `vertex-mm embed`'s JSONL or Parquet output")
    p.add_argument("--out", required=True, metavar="NEW_INDEX", help="the new index folder to write")
    p.add_argument("--to", metavar="MODEL",
                   help="target model, one the backend serves (default: the backend's; gemini-embedding-2 for gemini)")
    add_backend_arguments(p, default="gemini", dimension="embedding length of the new index (gemini: 128..3072, default 3072; "
                                                   "local and vertex without --task: 128, 256, 512 or 1408, default 1408)")
    p.add_argument("--task", help="task the items are embedded for (default retrieval_document for gemini)")
    p.add_argument("--root", metavar="DIR", help="folder that relative ids are paths in (when the index has no paths)")
    p.add_argument("--queries", metavar="FILE", help="queries to compare the old and new top-k on")
    p.add_argument("-k", type=int, default=10, help="top-k of the comparison (default 10)")
    p.add_argument("--kind", choices=("flat", "faiss"), default="flat", help="index kind of the new index")
    add_rate_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true",
                   help="send and write nothing: count what is left to embed, read every pending source and list what "
                        "would fail or be cut at the token budget, estimate the cost (gemini) and the time at --rpm")


def run(args: argparse.Namespace) -> int:
    from ..migrate import migrate_index, no_source_message, query_overlap
    from ._errors import UsageError

    if args.k < 1:
        raise UsageError(f"-k must be >= 1, got {args.k}")
    queries = _read_queries(args.queries) if args.queries else None  # checked before anything is sent
    if queries is not None:
        _check_comparable(args.source)
    if args.task is not None:
        _check_task(args.task)
    embedder = _embedder(args)
    task = args.task or ("retrieval_document" if embedder.content_limits is not None and args.backend != "local" else None)
    if args.dry_run:
        try:
            return _dry_run(args, embedder, task)
        finally:
            embedder.close()
    stopped_by: list[int] = []
    try:
        with sigterm_as_interrupt(stopped_by):
            try:
                report = migrate_index(args.source, args.out, embedder, dimension=args.dimension, task=task,
                                       root=args.root, kind=args.kind, progress=not args.no_progress)
            except KeyboardInterrupt:  # before the embedding started (reading the source and journal)
                print("vertex-mm migrate: stopped before the embedding started: nothing was lost; run the same "
                      "command again", file=sys.stderr)
                return SIGTERM_EXIT if stopped_by else 130
        print(f"vertex-mm migrate: {report.summary()}", file=sys.stderr)
        _list(report.missing_source, no_source_message, report.errors_file)
        _list(list(report.failed), lambda i: f"failed {i}: {report.failed[i]}", report.errors_file)
        _list(report.truncated, lambda i: f"truncated {i}: only its start is in its vector", None)
        if report.interrupted:
            return SIGTERM_EXIT if stopped_by else 130
        compared = queries is None or (report.written and _compare(args, embedder, queries, query_overlap))
        if queries is not None and not report.written:
            print("vertex-mm migrate: no top-k comparison: no index was written", file=sys.stderr)
    finally:
        embedder.close()
    return 0 if report.complete and compared else 1


def _dry_run(args: argparse.Namespace, embedder: Any, task: str | None) -> int:
    """``--dry-run``: the plan, its cost (gemini-embedding-2's price table) and what would fail."""
    from ..migrate import no_source_message, plan_migration

    plan = plan_migration(args.source, args.out, embedder, dimension=args.dimension, task=task, root=args.root)
    rpm = embedder.batch.requests_per_minute if args.backend != "local" else None
    print(f"vertex-mm migrate --dry-run: {plan.summary(rpm)} (space {plan.space})", file=sys.stderr)
    if args.backend == "gemini" and plan.to_send:
        print(plan.estimate.format(), file=sys.stderr)
    _list(plan.missing_source, no_source_message, None)
    _list(list(plan.failures), lambda i: f"would fail {i}: {plan.failures[i]}", None)
    _list(list(plan.truncated), lambda i: f"would be truncated {i}: about {plan.truncated[i]:,} tokens of "
          f"{plan.token_budget or 0:,}; the service embeds the start only", None)
    print("vertex-mm migrate --dry-run: nothing was sent or written", file=sys.stderr)
    return 0


def _embedder(args: argparse.Namespace) -> Any:
    from ..registry import get_embedder

    options = backend_options(args)
    target = _target_model(args.backend, args.to)
    if target is not None:
        options["model"] = target
    batch = rate_options(args)
    return get_embedder(args.backend, **options, **batch)


def _list(ids: list[str], line: Any, errors_file: Any) -> None:
    """The first :data:`FIRST_LINES` of a problem list, then how many more and where all are."""
    for item_id in ids[:FIRST_LINES]:
        print(f"  {line(item_id)}", file=sys.stderr)
    if len(ids) > FIRST_LINES:
        where = f" (see {errors_file})" if errors_file is not None else ""
        print(f"  ... and {len(ids) - FIRST_LINES} more{where}", file=sys.stderr)


def _read_queries(path: str) -> list[str]:
    from ..migrate import read_queries
    from ._errors import UsageError

    try:
        queries = read_queries(path)
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--queries {path}: cannot be read ({why}); nothing was embedded") from exc
    if not queries:
        raise UsageError(f"--queries {path}: no queries in it (one per line, or JSONL {{\"text\": ...}}); "
                         "nothing was embedded")
    return queries


def _check_comparable(source: str) -> None:
    """--queries searches the old index: a JSONL or Parquet source has none to search. Said
    before anything is embedded, not after the whole migration."""
    from pathlib import Path

    from ._errors import UsageError

    if not Path(source).expanduser().is_dir():
        raise UsageError(f"--queries: {source} is not an index folder, and the comparison searches the old index; "
                         "leave --queries out for a JSONL or Parquet source; nothing was embedded")


def _check_task(task: str) -> None:
    """A task the CLI takes, for documents: a query task (retrieval_query...) is the other side."""
    from ..content import TASKS, document_task, resolve_task
    from ..errors import InputError
    from ._errors import UsageError

    try:
        resolved = resolve_task(task)
    except InputError:
        raise UsageError(f"--task {task}: unknown; --task takes {', '.join(TASKS)}") from None
    assert resolved is not None
    side = document_task(resolved)
    if side is not None and side.name != resolved.name:
        raise UsageError(f"--task {task}: a query task, but the items of an index are the documents queries "
                         f"search: embed them with --task {side.name} (the default for gemini); "
                         f"`vertex-mm search` embeds the queries with {resolved.name} itself")


def _target_model(backend: str, to: str | None) -> str | None:
    """The ``model`` option for ``--to`` (None: the backend's own); a model the backend does not
    serve is a usage error before anything is embedded. Local backends take no ``--to``."""
    from ..limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001, SUPERSEDED_MODELS, model_names
    from ._errors import UsageError

    if to is None:
        return None
    served_by = {"gemini": model_names(GEMINI_EMBEDDING_2), "vertex": model_names(MULTIMODAL_EMBEDDING_001)}
    served = served_by.get(backend)
    if served is None:
        raise UsageError(f"--to {to}: the {backend} backend embeds with its own model and takes no --to; "
                         "leave --to out to rehearse offline, or pass --backend gemini")
    name = to.split("/")[-1]  # publishers/google/models/NAME
    if name not in served:
        others = [f"{models[0]} (--backend {b})" for b, models in served_by.items() if b != backend]
        raise UsageError(f"--to {to}: the {backend} backend serves {', '.join(served)}; "
                         f"other models: {', '.join(others)}")
    # A superseded id (gemini-embedding-2-preview) is its successor here, said once on stderr:
    # the library's warning would tell the user to run the migrate they are running.
    successor = SUPERSEDED_MODELS.get(name)
    if successor is not None:
        print(f"--to {to}: superseded, migrating to {successor}", file=sys.stderr)
        return successor
    return name


def _compare(args: argparse.Namespace, new_embedder: Any, queries: list[str], overlap: Any) -> bool:
    """Print the top-k overlap of the old and new index; False (said why) when it cannot."""
    from ..errors import VertexMMError
    from ..index import BaseIndex
    from ..index.build import embedder_for_index

    old_index, new_index = BaseIndex.load(args.source), BaseIndex.load(args.out)
    # The old model answers where it always did: the same project, or the same local emulator.
    remote = {"vertex": "api_endpoint", "gemini": "base_url"}.get(old_index.space.backend)
    options = {"project": args.project} if args.project and remote else {}
    if remote and args.api_endpoint and args.api_endpoint.lower().startswith("http://"):
        options[remote] = args.api_endpoint
    try:
        old_embedder = embedder_for_index(old_index, **options)
    except VertexMMError as exc:
        print(f"vertex-mm migrate: {args.out} is written, but --queries needs the old index's model as well, and "
              f"it cannot embed queries for {old_index.space.id} ({exc}); no top-k comparison. An offline "
              "rehearsal has no old model to ask: compare when you migrate for real", file=sys.stderr)
        return False
    try:
        rows = overlap(queries, old_index, old_embedder, new_index, new_embedder, k=args.k)
    finally:
        old_embedder.close()
    mean = sum(r.overlap for r in rows) / max(len(rows), 1)
    print(f"top-{args.k} overlap, old vs new index, over {len(rows)} queries: mean {mean:.2f}")
    for r in rows:
        print(f"  {r.overlap:4.2f}  {r.query}")
    return True
