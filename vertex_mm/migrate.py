"""Moving an index off multimodalembedding@001: re-embed every item into a new space.

``multimodalembedding@001`` retires on 2027-04-01 (new access is blocked a month before);
vectors of two models never mix, so an index built with it has to be embedded again, item by
item, from its source images, by the successor (gemini-embedding-2), into a new index:

>>> report = migrate_index("photos.idx", "photos-g2.idx", get_embedder("gemini", project="p"),
...                        dimension=768, task="retrieval_document")          # doctest: +SKIP

* What it reads: an index folder, or the JSONL or Parquet output of ``vertex-mm embed``.
* Where the items come from: each row's ``metadata["path"]`` when that file exists (what
  ``vertex-mm index`` stores), else its id when that is a ``gs://`` URI (or its
  ``https://storage.googleapis.com/`` URL), else ``root / id``, else its id when that is an
  absolute path; a text item (metadata ``text``, no ``path``) is embedded again from its text.
  Each source is sent as the kind it is: an image, or (to gemini-embedding-2) a PDF, an audio
  clip or a video, as ``vertex-mm embed`` sent it. An item whose source cannot be found
  is reported, not guessed; every failed or source-less item is listed in ``NEW.errors.jsonl``.
* An image in a format the target model does not take (GIF for gemini-embedding-2) but that
  Pillow decodes is sent re-encoded as PNG (lossless; an animation's first frame).
* Where it writes: never over the source, nor over an index or file that is not this
  migration's own output (:class:`~vertex_mm.errors.OutputPathError` before anything is sent).
* Resumable at the quota: results go to an append-only journal beside the new index
  (``NEW.journal.jsonl``) as they arrive, through the embedder's batch engine (rate limit,
  retries); run the same command again after a crash or Ctrl-C and only what is missing is
  embedded. An item counts as done, and its vector goes into the new index, only for the
  content it was embedded from (:func:`~vertex_mm._migrate_source.item_key`: a sample of a
  file's bytes, a text item's text, a ``gs://`` item's URI): a moved or copied source is not
  embedded again, an edited file is, and so is another source's file under the same id. In a
  JSONL or Parquet source the last line of an id wins (``vertex-mm embed`` appends a changed
  file's new line); an index folder holding an id twice is refused. The new index is written
  (atomically) from the journal at the end, streamed into one float32 array (~4 bytes a
  dimension an item); no index is written when nothing has a vector (an earlier run's index
  there is removed). The
  journal records its space (model, dimension, task): a resume in another space is refused
  (:class:`~vertex_mm.jobs.JournalSpaceError`), so the index's label is always true.
* Spaces never mix: the new index is created in the new embedder's space (recording the
  task) and refuses anything else; the old one is only read.
* How much the results move: with queries, each is searched in the old index (embedded by
  the old model) and in the new one, both as ``vertex-mm search`` embeds queries for that
  index (the query form of the task it records), and the overlap of the two top-k lists is
  reported.
"""

from __future__ import annotations

import json
import os
import pathlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._migrate_io import (
    build_index,
    build_request,
    default_dimension,
    output_paths,
    over_budget,
    remove_stale_index,
    source_kind,
    token_budget,
    vector_of,
)
from ._migrate_source import Item, legacy_key, pending, source_items
from .batch.interrupt import BatchInterrupted, NotRunError
from .embedder import BaseEmbedder
from .errors import APIError, InputError, InputNotFoundError, UnsupportedInputError, VertexMMError
from .index.manifest import MANIFEST_NAME
from .pricing import CostEstimate
from .wire import EmbedRequest

__all__ = ["MigrationPlan", "MigrationReport", "QueryOverlap", "migrate_index", "plan_migration", "query_overlap",
           "read_queries", "source_items"]


@dataclass
class MigrationReport:
    """What one run of a migration did."""

    index: pathlib.Path
    journal: pathlib.Path
    space: str = ""
    items: int = 0
    embedded: int = 0
    already_done: int = 0
    #: of ``already_done``, items counted by id alone from records written before content keys
    by_id_only: int = 0
    missing_source: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: Ids of ``failed`` that another run may get past (a quota, an outage, a dropped connection).
    retryable: set[str] = field(default_factory=set)
    #: Ids of ``failed`` whose kind the target does not embed (a video for multimodalembedding@001).
    unsupported: set[str] = field(default_factory=set)
    #: Images sent re-encoded as PNG, by the format the target model does not take (GIF: 3).
    converted: dict[str, int] = field(default_factory=dict)
    #: Ids of contents embedded now that are over the target's token budget (estimated): the
    #: service embedded their start only, without an error.
    truncated: list[str] = field(default_factory=list)
    #: that budget (tokens), when the target has one
    token_budget: int | None = None
    #: Where every failed and source-less item is listed (``NEW.errors.jsonl``); None: none were.
    errors_file: pathlib.Path | None = None
    written: bool = False  # whether the new index was written (not when no item has a vector)
    interrupted: bool = False
    interrupted_writing: bool = False  # stopped while the index was being written from the journal
    removed_stale: bool = False  # no item has a vector: the index an earlier run wrote at ``index`` was removed

    @property
    def complete(self) -> bool:
        return not self.interrupted and not self.failed and not self.missing_source and self.written

    @property
    def remaining(self) -> int:
        """Items neither embedded, nor done before, nor failed, nor without a source."""
        done = self.embedded + self.already_done + len(self.failed) + len(self.missing_source)
        return max(self.items - done, 0)

    def summary(self) -> str:
        parts = [f"{self.embedded} embedded now", f"{self.already_done} already done",
                 f"{len(self.failed)} failed", f"{len(self.missing_source)} without a source"]
        text = f"{self.items} items: " + ", ".join(parts) + _by_id_note(self.by_id_only)
        if self.converted:
            kinds = ", ".join(f"{n} {fmt}" for fmt, n in sorted(self.converted.items()))
            text += f"; {sum(self.converted.values())} images sent re-encoded as PNG ({kinds}: formats the " \
                    "target model does not take)"
        text += _truncated_note(len(self.truncated), self.token_budget, run=True)
        if self.interrupted_writing:
            return text + f"; interrupted while writing the index: nothing embedded is lost (journal " \
                          f"{self.journal}); run the same command again to write it"
        if self.interrupted:
            return text + f"; interrupted, {self.remaining} not done yet: run the same command again to resume " \
                          f"(journal {self.journal})"
        if self.written:
            text += f" -> {self.index} (space {self.space})"
        else:
            text += f"; no item has a vector, so no index was written at {self.index}"
            if self.removed_stale:
                text += " (the one an earlier run wrote there held none of these items' current vectors: removed)"
        return text + self._failures_note()

    def _failures_note(self) -> str:
        """What to do about the failures: running again helps only the retryable ones."""
        note = ""
        unsupported = len(self.unsupported)
        bad = len(self.failed) - len(self.retryable) - unsupported
        if self.retryable:
            other = " other" if bad or unsupported else ""
            note += f"; run the same command again to retry the{other} {len(self.retryable)} failed for a " \
                    "quota or an outage"
        if bad:
            note += f"; {bad} failed for their input, which fail again on every run: fix or remove them"
        if unsupported:
            note += f"; {unsupported} are of a kind the target model does not embed (PDFs, audio or video): " \
                    "migrate them with --backend gemini, or leave them out"
        if self.errors_file is not None:
            note += f"; all listed in {self.errors_file}"
        return note


def migrate_index(source: str | os.PathLike[str], out: str | os.PathLike[str], embedder: BaseEmbedder, *,
                  dimension: int | None = None, task: str | None = None, root: str | os.PathLike[str] | None = None,
                  kind: str = "flat", progress: bool = False) -> MigrationReport:
    """Re-embed every item of ``source`` (an index folder or a JSONL of embeddings) with
    ``embedder`` into a new index at ``out``; resumable (see the module docstring).

    Raises :class:`~vertex_mm.errors.OutputPathError` before anything is sent when ``out`` is
    the source, or exists and is not this migration's output (no journal beside it)."""
    from .jobs import Journal
    from .jobs.errors_file import error_entry, write_errors
    from .jobs.writer import embedding_problem

    if kind not in ("flat", "faiss"):
        raise InputError(f"kind must be 'flat' or 'faiss', got {kind!r}", input_name="kind")
    if kind == "faiss":  # before anything is sent: the index is built only at the end
        from ._optional import require

        require("index", "faiss", what="the FAISS index backend")
    out_path, journal_path = output_paths(source, out)
    space = embedder.content_space(default_dimension(embedder, dimension, task, journal_path), task=task)
    report = MigrationReport(out_path, journal_path, space=space.id, token_budget=token_budget(embedder))
    items = source_items(source, root)
    if not items:  # before the journal: an empty source leaves nothing behind
        raise InputError(f"{source}: no items to migrate (an empty index or file)", input_name=str(source))
    report.items = len(items)
    report.missing_source = [i.id for i in items if not i.found]
    entries = [error_entry(i, InputNotFoundError(no_source_message(i), input_name=i)) for i in report.missing_source]
    counting = threading.Lock()
    long_ids: set[str] = set()  # over the token budget
    with Journal(journal_path, space=space.id) as journal:
        left = pending(items, journal.is_done)
        keys, todo = left.keys, left.todo
        report.already_done, report.by_id_only = report.items - len(report.missing_source) - len(todo), left.by_id_only

        def build(item: Item) -> EmbedRequest:
            try:
                request, converted, key = build_request(embedder, item, space, task)
            except UnsupportedInputError:
                if item.location is not None and source_kind(item.location) not in (None, "image"):
                    with counting:  # build runs in the batch's worker threads
                        report.unsupported.add(item.id)  # a PDF, audio or video to an images-only target
                raise
            keys[item.id] = key  # of the bytes sent: a file edited since the start is journalled as sent
            over = over_budget(embedder, request)
            with counting:
                if converted is not None:
                    report.converted[converted] = report.converted.get(converted, 0) + 1
                if over is not None:
                    long_ids.add(item.id)  # said once it is embedded
            return request

        def on_result(index: int, item: Item, result: Any) -> None:
            if isinstance(result, NotRunError):
                return
            if isinstance(result, VertexMMError):
                report.failed[item.id] = f"{type(result).__name__}: {result}"
                entries.append(error_entry(item.id, result))
                if getattr(result, "retryable", False):
                    report.retryable.add(item.id)
                return
            vector = vector_of(item, result)
            problem = "is missing" if vector is None else embedding_problem(list(vector), space.dimension)
            if problem is not None:
                # Never journalled: the index would refuse it, or drop it while the run said complete.
                bad = APIError(f"{item.id}: the vector the service answered {problem}")
                report.failed[item.id] = f"{type(bad).__name__}: {bad}"
                entries.append(error_entry(item.id, bad))
                return
            journal.write({"id": item.id, "content_hash": keys[item.id], "space": space.id, "embedding": vector})
            report.embedded += 1
            if item.id in long_ids:
                report.truncated.append(item.id)

        try:
            embedder.embed_stream(todo, build=build, on_result=on_result, progress=progress, total=len(todo))
        except BatchInterrupted:
            report.interrupted = True
    errors_file = out_path.with_name(out_path.name + ".errors.jsonl")
    write_errors(errors_file, entries)  # replaced on every run; removed when nothing failed
    report.errors_file = errors_file if entries else None
    if report.interrupted:
        return report
    try:
        # Only records of what each item is now: not another source's vector under the same id,
        # nor the vector of a file's old content when its new content failed or went missing.
        accept = {item.id: {keys[item.id], legacy_key(item)} for item in items if item.id in keys}
        index, rows = build_index([i.id for i in items], [i.metadata for i in items], journal_path, space, kind, accept)
        if rows:
            index.save(out_path)
            report.written = True
        elif (out_path / MANIFEST_NAME).is_file():  # an earlier run's index (its journal is beside it)
            remove_stale_index(out_path)  # it holds only vectors of items this source no longer has
            report.removed_stale = True
    except KeyboardInterrupt:  # the save is atomic: the journal holds everything
        report.interrupted = report.interrupted_writing = True
    return report


def no_source_message(item_id: str) -> str:
    """Why ``item_id`` has no source, and what to pass: an absolute path needs no --root."""
    if os.path.isabs(item_id):
        return f"no source file for {item_id} (no such file: moved or deleted since it was indexed?)"
    return (f"no source file for {item_id} (pass --root DIR, the folder its id is a path in; for the output of "
            "`vertex-mm embed LIST`, the list file's folder)")


def _truncated_note(n: int, budget: int | None, *, run: bool) -> str:
    if not n:
        return ""
    embeds = "embedded" if run else "would embed"
    return (f"; {n} longer than the target's {budget or 0:,}-token budget (estimated at 4 characters a token): the "
            f"service {embeds} only their start, without an error (listed)")


def _by_id_note(n: int) -> str:
    if not n:
        return ""
    return (f" ({n} of them counted by id alone: their journal records were written before vertex-mm keyed them by "
            "content, so a changed or other file under the same id is not seen; delete the journal to embed them again)")


@dataclass
class MigrationPlan:
    """What :func:`migrate_index` would do, worked out without sending or writing anything."""

    space: str
    items: int = 0
    already_done: int = 0
    by_id_only: int = 0
    missing_source: list[str] = field(default_factory=list)
    #: items whose request could not be built, id -> "ErrorType: message" (they would fail)
    failures: dict[str, str] = field(default_factory=dict)
    converted: dict[str, int] = field(default_factory=dict)
    #: contents over the target's token budget, id -> their estimated tokens (sent; cut by the service)
    truncated: dict[str, int] = field(default_factory=dict)
    #: that budget (tokens), when the target has one
    token_budget: int | None = None
    #: requests that would be sent (failures and missing sources excluded)
    to_send: int = 0
    #: their tokens and price at gemini-embedding-2's rates (:mod:`vertex_mm.pricing`; only
    #: meaningful when that is the target)
    estimate: CostEstimate = field(default_factory=CostEstimate)

    def summary(self, requests_per_minute: float | None) -> str:
        text = (f"{self.items} items: {self.already_done} already in the journal, {self.to_send} to embed, "
                f"{len(self.failures)} would fail, {len(self.missing_source)} without a source")
        text += _by_id_note(self.by_id_only)
        if self.converted:
            text += "; to re-encode as PNG: " + ", ".join(f"{n} {fmt}" for fmt, n in sorted(self.converted.items()))
        text += _truncated_note(len(self.truncated), self.token_budget, run=False)
        if requests_per_minute and self.to_send:
            seconds = self.to_send / requests_per_minute * 60
            took = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else \
                f"{seconds / 3600:.1f} h"
            text += f"; at {requests_per_minute:g} requests per minute about {took}"
        return text


def plan_migration(source: str | os.PathLike[str], out: str | os.PathLike[str], embedder: BaseEmbedder, *,
                   dimension: int | None = None, task: str | None = None,
                   root: str | os.PathLike[str] | None = None) -> MigrationPlan:
    """A dry run of :func:`migrate_index` with the same arguments: the same ``--out`` checks, the
    journal read (not locked, nothing written), every pending item's source read and its request
    built with the run's checks, so that what would fail before sending is listed, and the
    requests priced (:attr:`MigrationPlan.estimate`; each PDF, audio clip and video as itself)
    with those over the target's token budget listed. A journal of another space is
    refused as the run would refuse it (:class:`~vertex_mm.jobs.JournalSpaceError`)."""
    from .jobs import read_journal
    from .jobs.journal_space import check_journal_space
    from .jobs.resume import ResumeSet
    from .jobs.writer import JournalStats

    _, journal_path = output_paths(source, out)
    space = embedder.content_space(default_dimension(embedder, dimension, task, journal_path), task=task)
    done = ResumeSet()
    if journal_path.exists():
        stats = JournalStats()
        done = ResumeSet.from_pairs((r["id"], str(r.get("content_hash") or "")) for r in read_journal(journal_path, stats))
        check_journal_space(journal_path, stats.spaces, space.id)
    items = source_items(source, root)
    plan = MigrationPlan(space.id, items=len(items), missing_source=[i.id for i in items if not i.found])
    plan.token_budget = token_budget(embedder)
    left = pending(items, done.matches)
    plan.already_done, plan.by_id_only = plan.items - len(plan.missing_source) - len(left.todo), left.by_id_only
    for item in left.todo:
        try:
            request, converted, _ = build_request(embedder, item, space, task)
        except VertexMMError as exc:
            plan.failures[item.id] = f"{type(exc).__name__}: {exc}"
            continue
        plan.to_send += 1
        plan.estimate.add(request)  # not kept: a request holds its image's bytes
        over = over_budget(embedder, request)
        if over is not None:
            plan.truncated[item.id] = over
        if converted is not None:
            plan.converted[converted] = plan.converted.get(converted, 0) + 1
    return plan


@dataclass(frozen=True)
class QueryOverlap:
    """Per query: how many of the old top-k the new top-k keeps (``overlap`` in 0..1)."""

    query: str
    old: list[str]
    new: list[str]

    @property
    def overlap(self) -> float:
        k = max(len(self.old), 1)
        return len(set(self.old) & set(self.new)) / k


def query_overlap(queries: Sequence[str], old_index: Any, old_embedder: BaseEmbedder, new_index: Any,
                  new_embedder: BaseEmbedder, *, k: int = 10) -> list[QueryOverlap]:
    """Each query's top-k in the old index (old model) and in the new one (new model), each
    searched as ``vertex-mm search`` searches it (:func:`~vertex_mm.index.build.search_index`:
    the query form of the task the index records), so the overlap is that of what readers get."""
    from .index.build import search_index

    pairs = [(q, None) for q in queries]
    old_hits = search_index(old_index, old_embedder, pairs, k=k)
    new_hits = search_index(new_index, new_embedder, pairs, k=k)
    return [QueryOverlap(q, [h.id for h in a], [h.id for h in b]) for q, a, b in zip(queries, old_hits, new_hits)]


def read_queries(path: str | os.PathLike[str]) -> list[str]:
    """Queries from a text file (one per line) or JSONL (``{"text": ...}`` or ``{"query": ...}``).
    A line that starts with ``{`` but is no JSON object is a plain query (``{draft} logo``); a
    JSON object without ``text`` or ``query`` is refused, naming its line."""
    out: list[str] = []
    # utf-8-sig: a byte-order mark (Notepad's) is not part of the first query.
    for n, line in enumerate(pathlib.Path(path).read_text(encoding="utf-8-sig").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line) if line.startswith("{") else None
        except ValueError:
            record = None
        if not isinstance(record, dict):
            out.append(line)
            continue
        text = record.get("text") or record.get("query")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{n}: a JSON line needs a non-empty \"text\" (or \"query\"), got {line[:80]!r}",
                             input_name=str(path))
        out.append(text)
    return out

