"""A resumable embedding job: every image of a source into an output file, exactly once.

>>> report = run_job(get_embedder("vertex", requests_per_minute=600), "photos/", "photos.jsonl")
>>> report.embedded, report.skipped, report.failed

With ``contents=True`` every image, PDF, audio clip and video of the source is one content
(:mod:`.contents`; gemini-embedding-2 and the local backend), embedded with ``task``.

Each result is appended to the journal as it arrives. Running the same job again skips every
input whose id and content hash are already there, so a job stopped by Ctrl-C, a crash or
``kill -9`` picks up where it stopped and ends with each input exactly once. Failed inputs
are listed in ``OUT.errors.jsonl`` and tried again by the next run. Missing or expired
credentials fail the run itself (:class:`~vertex_mm.errors.UnauthenticatedError` is raised,
once), not each input in turn.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ..batch.interrupt import BatchInterrupted, NotRunError
from ..batch.progress import Progress
from ..content import Part
from ..errors import APIError, UnauthenticatedError, VertexMMError
from ..wire import EmbedRequest
from .contents import extensions_for, load_content
from .errors_file import ErrorLog
from .resume import ResumeSet
from .sources import LeftOut, SourceItem, iter_source, load_item
from .writer import Journal, embedding_problem, export_parquet

__all__ = ["FIRST_ERRORS", "JobReport", "OutputFormat", "job_paths", "run_job"]

OutputFormat = Literal["jsonl", "parquet"]

#: How many failures a report quotes (``first_errors``); the others are counted, not quoted.
FIRST_ERRORS = 5


@dataclass
class JobReport:
    """What one run of a job did. ``complete`` is True when no input is left to do."""

    output: pathlib.Path
    journal: pathlib.Path
    seen: int = 0
    skipped: int = 0
    embedded: int = 0
    failed: int = 0
    duplicates: int = 0
    interrupted: bool = False
    torn_bytes: int = 0
    bad_lines: int = 0  # complete journal lines that are not records (ignored; their inputs run again)
    first_bad_lines: list[int] = field(default_factory=list)
    errors_file: pathlib.Path | None = None
    first_errors: list[str] = field(default_factory=list)
    retryable_failed: int = 0  # failures another run may get past (a quota, an outage), of ``failed``
    total: int | None = None  # inputs of a local source (counted for the bar, or after an interrupt)
    left_out: LeftOut = field(default_factory=LeftOut)  # files of a folder or bucket not of a format the model reads

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.failed == 0

    def quote_error(self, item_id: str, error: BaseException) -> None:
        """Keep ``item_id``'s error among ``first_errors`` while fewer than :data:`FIRST_ERRORS` are."""
        if len(self.first_errors) < FIRST_ERRORS:
            self.first_errors.append(f"{item_id}: {type(error).__name__}: {error}")

    def error_lines(self) -> list[str]:
        """``first_errors``, then how many more failed and where they are all listed."""
        more = self.failed - len(self.first_errors)
        return self.first_errors + ([f"... and {more} more (see {self.errors_file})"] if more > 0 else [])

    def _failures_note(self) -> str:
        """What to do about the failures: run again only helps the retryable ones."""
        bad = self.failed - self.retryable_failed
        if not bad:
            return f"; errors in {self.errors_file}: run again to retry them"
        what = f"{bad} bad inputs" if bad < self.failed else "bad inputs"
        note = f"; errors in {self.errors_file}: {what}, which fail again on every run: fix or remove them"
        if self.retryable_failed:
            note += f"; run again to retry the other {self.retryable_failed}"
        return note

    def _interrupted_note(self) -> str:
        return "; interrupted: run the same command again to resume"

    def _body(self) -> str:
        """The counts, the output, what opening the journal repaired, and what to do next."""
        parts = [f"{self.embedded} embedded", f"{self.skipped} already done", f"{self.failed} failed"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate ids ignored")
        if self.left_out.count:
            parts.append(self.left_out.describe())
        text = ", ".join(parts) + f" -> {self.output}"
        if self.torn_bytes:
            text += f" (cut {self.torn_bytes} bytes of a torn last line left by a killed run)"
        if self.bad_lines:
            where = ", ".join(map(str, self.first_bad_lines))
            text += f" (ignored {self.bad_lines} journal lines that are not records: line {where}...)"
        if self.interrupted:
            text += self._interrupted_note()
        elif self.failed:
            text += self._failures_note()
        return text

    def summary(self) -> str:
        if not self.interrupted:
            return f"{self.seen} inputs: {self._body()}"
        # Inputs are read ahead of the requests: after an interrupt, ``seen`` is not the source's size.
        accounted = self.embedded + self.skipped + self.failed + self.duplicates
        if self.total is not None:
            return f"{self.total} inputs, {max(self.total - accounted, 0)} not done yet: {self._body()}"
        return f"{self.seen} inputs read so far, {max(self.seen - accounted, 0)} of them not done yet: {self._body()}"


@dataclass(frozen=True)
class _Pending:
    item: SourceItem
    media: Part | None
    content_hash: str | None
    error: VertexMMError | None = None


def _count_local(source: str | os.PathLike[str], extensions: frozenset[str]) -> int | None:
    if os.fspath(source).startswith("gs://"):
        return None
    return sum(1 for _ in iter_source(source, extensions=extensions))


def job_paths(out: str | os.PathLike[str], fmt: OutputFormat | None = None) -> tuple[OutputFormat, pathlib.Path, pathlib.Path]:
    """(format, output file, journal file) for ``out``; the format follows the suffix by default."""
    out_path = pathlib.Path(out).expanduser()
    fmt = fmt or ("parquet" if out_path.suffix.lower() == ".parquet" else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"format must be 'jsonl' or 'parquet', got {fmt!r}")
    journal = out_path if fmt == "jsonl" else out_path.with_name(out_path.name + ".journal.jsonl")
    return fmt, out_path, journal


def run_job(
    embedder: Any,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    dimension: int | None = None,
    fmt: OutputFormat | None = None,
    progress: bool = False,
    storage_client: Any = None,
    fsync_every: int = 32,
    contents: bool = False,
    task: str | None = None,
) -> JobReport:
    """Embed every image of ``source`` (folder, list file, ``gs://bucket/prefix``) into ``out``;
    with ``contents=True``, every image, PDF, audio clip and video, one content each. A folder
    or bucket gives the files of the formats the model reads (:func:`.contents.extensions_for`).

    Returns a :class:`JobReport`; Ctrl-C ends the run with ``report.interrupted`` set after
    the requests in flight are written.
    """
    fmt, out_path, journal_path = job_paths(out, fmt)
    space = embedder.content_space(dimension, task=task) if contents else embedder.space(dimension)
    load = load_content if contents else load_item
    extensions = extensions_for(embedder, contents=contents)  # the files the model reads, no other
    report = JobReport(output=out_path, journal=journal_path,
                       errors_file=out_path.with_name(out_path.name + ".errors.jsonl"))
    # A bad SOURCE fails before OUT is made.
    items = iter_source(source, storage_client=storage_client, extensions=extensions,
                        passed_over=report.left_out)
    errors = ErrorLog(report.errors_file)  # type: ignore[arg-type]
    resolved = ResumeSet()  # ids this run embedded, found done or saw fail: their earlier errors go
    # A local source is counted first, so the bar can show an ETA; a bucket is not listed twice.
    total = report.total = _count_local(source, extensions) if progress else None
    bar = Progress(total, enabled=progress, desc=f"{embedder.backend} embed")
    with bar, Journal(journal_path, fsync_every=fsync_every, space=space.id) as journal:
        report.torn_bytes = journal.torn_bytes
        report.bad_lines, report.first_bad_lines = journal.bad_lines, journal.first_bad_lines

        def pending() -> Iterator[_Pending]:
            seen_ids = ResumeSet()  # 16 bytes an id, like the journal's own bookkeeping
            for item in items:
                report.seen += 1
                if seen_ids.matches(item.id, ""):
                    report.duplicates += 1
                    continue
                seen_ids.add(item.id, "")
                if item.content_hash is not None and journal.is_done(item.id, item.content_hash):
                    report.skipped += 1
                    resolved.add(item.id, "")
                    bar.item_skipped()
                    continue
                try:
                    media, content_hash = load(item)
                except VertexMMError as exc:
                    yield _Pending(item, None, None, exc)
                    continue
                if journal.is_done(item.id, content_hash):
                    report.skipped += 1
                    resolved.add(item.id, "")
                    bar.item_skipped()
                    continue
                yield _Pending(item, media, content_hash)

        def build(p: _Pending) -> EmbedRequest:
            if p.error is not None:
                raise p.error
            if contents:
                request: EmbedRequest = embedder.build_content_request(p.media, dimension=space.dimension, task=task,
                                                                       key=p.item.id)
            else:
                request = embedder.build_request(image=p.media, dimension=space.dimension, key=p.item.id)
            return request

        def on_result(index: int, p: _Pending, result: Any) -> None:
            if isinstance(result, NotRunError):
                return  # stopped before it ran: the next run does it
            if isinstance(result, UnauthenticatedError):
                raise result  # no input can succeed: the run's error, said once (journal and errors kept)
            if isinstance(result, VertexMMError):
                report.failed += 1
                report.retryable_failed += int(result.retryable)
                errors.write(p.item.id, result)
                report.quote_error(p.item.id, result)
                return
            vector = result.content_embedding if contents else result.image_embedding
            if vector is None:
                raise RuntimeError(f"{embedder!r} returned no {'content' if contents else 'image'} embedding "
                                   f"for {p.item.id}")
            problem = embedding_problem(list(vector), space.dimension)
            if problem is not None:  # never journalled: no index could use it
                bad = APIError(f"{p.item.id}: the vector the service answered {problem}")
                report.failed += 1
                errors.write(p.item.id, bad)
                report.quote_error(p.item.id, bad)
                return
            journal.write({"id": p.item.id, "content_hash": p.content_hash, "space": space.id, "embedding": vector})
            resolved.add(p.item.id, "")
            report.embedded += 1

        whole_source = False
        try:
            embedder.embed_stream(pending(), build=build, on_result=on_result, progress=bar)
            whole_source = True
        except BatchInterrupted:
            report.interrupted = True
            if report.total is None:
                report.total = _count_local(source, extensions)
        finally:
            errors.settle(whole_source=whole_source, resolved=resolved)
    if fmt == "parquet" and not report.interrupted:
        export_parquet(journal_path, out_path)
    return report
