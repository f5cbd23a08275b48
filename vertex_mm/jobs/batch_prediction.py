"""Vertex AI batch prediction jobs for gemini-embedding-2: a source embedded at about half the
online price, with the guarantees of the online path.

>>> emb = get_embedder("gemini", project="my-proj")                               # doctest: +SKIP
>>> report = run_batch_job(emb, "docs/", "docs.jsonl", staging="gs://my-bucket/vertex-mm",
...                        task="retrieval_document", dimension=768, progress=True)

One run, per job of at most 1,000,000 inputs and 1 GB of input lines:

1. **prepare**: every image, PDF, audio clip and video of the source that is not in the journal
   yet becomes one content request, checked here (a bad file is a per-item error and is never
   sent), and one input line (local files inline as base64, ``gs://`` objects as ``fileData``);
2. **estimate**: ``on_estimate`` gets the :class:`~vertex_mm.pricing.CostEstimate` before
   anything is sent (:func:`~vertex_mm.jobs.estimate.estimate_source` estimates without sending);
3. **stage** the lines to ``{staging}/{digest}/input.jsonl``, one file of at most 1 GB per job
   (:mod:`.staging`);
4. **create** the job through the GeminiEmbedder's google-genai client, recording it in
   ``OUT.job.json`` first (:mod:`.batch_state`), or **re-attach** to the job that file names;
5. **poll** every ``poll_interval`` seconds, the progress bar following ``completionStats``;
6. **collect** every output row into the journal (``OUT``, the online format) or
   ``OUT.errors.jsonl`` (:mod:`.batch_collect`), then remove ``OUT.job.json``.

Ctrl-C while polling leaves the job running on Vertex AI: the same command re-attaches to it.
"""

from __future__ import annotations

import math
import os
import pathlib
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .._jsonl import escape_utf8, is_utf8
from ..batch.progress import Progress
from ..errors import InputError, NotFoundError, UnsupportedInputError, VertexMMError
from ..gcs import check_gs_prefix, join_gs, make_client
from ..pricing import CostEstimate, Usage
from ..results import EmbeddingSpace
from ..wire import EmbedRequest, build_batch_input_line
from .batch_client import FAILED_STATES, PAUSED_STATE, BatchJobs, JobInfo
from .batch_collect import ErrorSet, collect_outputs
from .batch_errors import BatchJobFailedError, BatchJobPausedError, BatchJobRefusedError, BatchJobStateError
from .batch_state import JobState, state_path
from .contents import content_extensions_for, load_content
from .errors_file import read_errors, write_errors
from .job import FIRST_ERRORS, JobReport, OutputFormat, job_paths
from .sources import iter_source
from .staging import MAX_INPUT_FILE_BYTES, MAX_ROWS_PER_JOB, StagedInput, display_name_for
from .writer import Journal, export_parquet

__all__ = ["BatchJobReport", "run_batch_job"]

#: Seconds between two looks at a running job (a job takes minutes to hours).
DEFAULT_POLL_INTERVAL = 30.0


@dataclass(kw_only=True)
class BatchJobReport(JobReport):
    """What one run did: :class:`JobReport`'s counts, plus the job's own. ``complete`` is True
    when no input is left to do.

    The source is listed again for each job's input (and after a re-attached job, to find what
    the run that made it had left), yet ``seen``, ``skipped`` and ``duplicates`` count each
    listed input once. ``torn_bytes`` and ``bad_lines`` are what opening the journal
    repaired or ignored. ``submitted`` and ``estimate`` cover the inputs this run sent, over
    all its jobs (``estimate`` None when it sent none); ``jobs`` are the jobs it ran or
    re-attached to (``reattached``)."""

    state_file: pathlib.Path
    errors_file: pathlib.Path  # always written next to the output (narrows JobReport's)
    submitted: int = 0
    jobs: list[str] = field(default_factory=list)
    reattached: bool = False
    estimate: CostEstimate | None = None

    def _interrupted_note(self) -> str:
        note = super()._interrupted_note()
        if self.state_file.exists():
            note += f" (the job keeps running on Vertex AI; {self.state_file} names it)"
        return note

    def summary(self) -> str:
        if not self.jobs:
            return self._body()
        how = "re-attached to " if self.reattached else ""
        sent = f", {self.submitted} inputs submitted" if self.submitted else ""
        return f"batch prediction job {how}{', '.join(self.jobs)}{sent}: {self._body()}"


def _genai_client(embedder: Any) -> Any:
    from ..gemini import GeminiEmbedder

    if not isinstance(embedder, GeminiEmbedder):
        raise UnsupportedInputError(f"batch prediction jobs run gemini-embedding-2 through the gemini backend, not "
                                    f"{getattr(embedder, 'backend', type(embedder).__name__)}: use get_embedder('gemini')",
                                    input_name="backend")
    return embedder._client  # the embedder's own google-genai client: same project, location, credentials


def run_batch_job(
    embedder: Any,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    staging: str,
    dimension: int | None = None,
    task: str | None = None,
    fmt: OutputFormat | None = None,
    progress: bool = False,
    storage_client: Any = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    on_estimate: Callable[[CostEstimate], None] | None = None,
    extensions: frozenset[str] | None = None,
    max_file_bytes: int = MAX_INPUT_FILE_BYTES,
    max_rows: int = MAX_ROWS_PER_JOB,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchJobReport:
    """Embed every content file of ``source`` into ``out`` through batch prediction jobs;
    see the module docstring. Returns a :class:`BatchJobReport`. ``extensions``: the file
    endings taken from a folder or bucket (default: those the model reads)."""
    check_gs_prefix(staging, name="staging")  # the job's input and output go under gs://bucket/prefix
    if not (math.isfinite(poll_interval) and poll_interval > 0):
        # Checked before staging: a negative one failed in sleep() after the job was created,
        # and 0 polled the job API in a tight loop.
        raise InputError(f"poll_interval={poll_interval!r} must be a finite number of seconds > 0",
                         input_name="poll_interval")
    jobs = BatchJobs(_genai_client(embedder), embedder.model, sleep=sleep)
    gcs = make_client(storage_client, what="staging a batch prediction job")
    fmt, out_path, journal_path = job_paths(out, fmt)
    space = embedder.content_space(dimension, task=task)
    report = BatchJobReport(output=out_path, journal=journal_path, state_file=state_path(out_path),
                            errors_file=out_path.with_name(out_path.name + ".errors.jsonl"))
    errors = ErrorSet()
    tried: set[str] = set()
    touched = False  # whether this run got as far as knowing its errors (else the old file stays)
    whole_source = False  # whether this run listed its whole source and collected every job of it
    # An earlier run's failures stand until this run has been through the whole source: a run
    # killed while its second job ran had written its first job's failures here only.
    earlier = read_errors(report.errors_file)
    if extensions is None:
        extensions = content_extensions_for(embedder)
    run = _Run(embedder, source, space, task, gcs, staging, extensions, max_file_bytes, max_rows, report, errors)
    with Journal(journal_path, space=space.id) as journal:
        report.torn_bytes = journal.torn_bytes
        report.bad_lines, report.first_bad_lines = journal.bad_lines, journal.first_bad_lines

        def write_errors_file() -> None:
            kept = [] if whole_source else [e for i, e in earlier.items()
                                            if i not in errors and not journal.is_done(i, None)]
            write_errors(report.errors_file, kept + errors.entries())

        try:
            while True:
                state = JobState.load(report.state_file)
                from_file = state is not None
                if state is None:
                    touched = True
                    state = run.prepare(journal, tried, on_estimate)
                    if state is None:
                        whole_source = True
                        break
                else:
                    state.check_matches(path=report.state_file, model=embedder.model, space=space.id)
                    touched = True
                    report.reattached = report.reattached or state.job_name is not None
                    for entry in state.local_errors:
                        errors.add_entry(entry)
                job = _attach_or_create(jobs, state, report)
                job = _poll(jobs, job, state.rows, progress, poll_interval, sleep)
                if job.state == PAUSED_STATE:  # the state file stays: the same command re-attaches
                    raise BatchJobPausedError(
                        f"batch prediction job {job.name} is paused by the service ({PAUSED_STATE}: not running, "
                        f"not ended; {job.successful + job.failed} of {state.rows} inputs done). {report.state_file} "
                        "is kept: run the same command again to wait for it once it runs again, or cancel the job "
                        "and delete that file to submit the input anew")
                try:
                    _collect(job, state, gcs, journal, errors, report)
                finally:
                    tried |= {state.item_id(key) for key in state.items} | {e["id"] for e in state.local_errors}
                    write_errors_file()  # now, not at the end: a client killed during the next job keeps them
                if not state.more and not from_file:
                    whole_source = True  # this run's listing went through the whole source
                    break
                # A job re-attached from the state file: the run that made it may have run others
                # before it (their failures died with it), so the source is listed again;
                # ``tried`` keeps this job's inputs from being sent twice.
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            if touched:
                write_errors_file()
    report.failed = len(errors)
    report.retryable_failed = sum(bool(entry.get("retryable")) for entry in errors.entries())
    if fmt == "parquet" and not report.interrupted:
        export_parquet(journal_path, out_path)
    return report


@dataclass
class _Run:
    embedder: Any
    source: str | os.PathLike[str]
    space: EmbeddingSpace
    task: str | None
    gcs: Any
    staging: str
    extensions: frozenset[str]
    max_file_bytes: int
    max_rows: int
    report: BatchJobReport
    errors: ErrorSet
    #: Source items (in listing order) already counted in the report: each job's input is
    #: prepared by listing the source again, and an item is counted the first time only.
    counted: int = 0
    #: Files left out for their format already counted (each listing passes them again).
    left_out_seen: set[str] = field(default_factory=set)

    def _left_out(self, item_id: str) -> None:
        if item_id not in self.left_out_seen:
            self.left_out_seen.add(item_id)
            self.report.left_out(item_id)

    def prepare(self, journal: Journal, tried: set[str],
                on_estimate: Callable[[CostEstimate], None] | None) -> JobState | None:
        """Check, estimate and stage the next job's input; its state (saved), or None when
        nothing is left to send."""
        estimate = CostEstimate()
        items: dict[str, str] = {}
        key_ids: dict[str, str] = {}
        local_errors: list[dict[str, Any]] = []
        more = False
        with tempfile.TemporaryDirectory(prefix="vertex-mm-stage-") as folder:
            staged = StagedInput(pathlib.Path(folder), model=self.embedder.model, task=self.task,
                                 max_file_bytes=self.max_file_bytes)
            try:
                for item_id, content_hash, request in self._pending(journal, tried, local_errors):
                    if staged.rows >= self.max_rows:
                        more = True
                        break
                    key = item_id if is_utf8(item_id) else escape_utf8(item_id)  # the service reads UTF-8 JSON
                    if key in items:
                        clash = InputError(f"{item_id}: another input of this job is sent under the same key {key!r} "
                                           "(a file name that is not UTF-8, escaped); rename one", input_name=item_id)
                        local_errors.append(self.errors.add(item_id, clash))
                        self.report.quote_error(item_id, clash)
                        continue
                    if not staged.add(_input_line(self.embedder, key, request)):
                        more = True  # the job's one input file is full: this input goes to the next job
                        break
                    estimate.add(request)
                    items[key] = content_hash
                    if key != item_id:
                        key_ids[key] = item_id
            finally:
                staged.close()
            if not items:
                return None
            if on_estimate is not None:
                on_estimate(estimate)
            self.report.estimate = _sum_estimates(self.report.estimate, estimate)
            inputs = staged.upload(self.gcs, self.staging)
            prefix = staged.prefix(self.staging)
        state = JobState(
            source=os.fspath(self.source), output=str(self.report.output), model=self.embedder.model,
            space=self.space.id, dimension=self.space.dimension, task=self.task, digest=staged.digest,
            display_name=display_name_for(staged.digest, secrets.token_hex(4)), staged_inputs=inputs,
            output_prefix=join_gs(prefix, "output") + "/", rows=staged.rows, more=more, items=items,
            local_errors=local_errors, key_ids=key_ids)
        state.save(self.report.state_file)  # before the create call: see batch_state
        self.report.submitted += staged.rows
        return state

    def _pending(self, journal: Journal, tried: set[str],
                 local_errors: list[dict[str, Any]]) -> Iterator[tuple[str, str, EmbedRequest]]:
        seen: set[str] = set()
        report = self.report
        listing = iter_source(self.source, storage_client=self.gcs, extensions=self.extensions, passed_over=self._left_out)
        for position, item in enumerate(listing):
            first_look = position >= self.counted  # not counted by an earlier job's listing
            if first_look:
                self.counted = position + 1
                report.seen += 1
            if item.id in seen:
                report.duplicates += int(first_look)
                continue
            seen.add(item.id)
            if item.id in tried:
                continue
            if item.content_hash is not None and journal.is_done(item.id, item.content_hash):
                report.skipped += int(first_look)
                continue
            try:
                part, content_hash = load_content(item)
                if journal.is_done(item.id, content_hash):
                    report.skipped += int(first_look)
                    continue
                request = self.embedder.build_content_request(part, dimension=self.space.dimension, task=self.task,
                                                              key=item.id)
            except VertexMMError as exc:  # refused before the network: never staged
                local_errors.append(self.errors.add(item.id, exc))
                report.quote_error(item.id, exc)
                continue
            yield item.id, content_hash, request


def _input_line(embedder: Any, key: str, request: EmbedRequest) -> dict[str, Any]:
    """One input line; with the embedder's ``document_ocr``, rows holding a PDF ask for OCR
    too (``embed_content_config.document_ocr``, as google-genai's online call sends it)."""
    line = build_batch_input_line(key, request)
    if getattr(embedder, "document_ocr", False) and any(p.kind == "document" for p in request.content or ()):
        line["request"]["embed_content_config"]["document_ocr"] = True
    return line


def _sum_estimates(total: CostEstimate | None, more: CostEstimate) -> CostEstimate:
    """``total`` with ``more``'s contents and usage added (``more`` itself when there is none)."""
    if total is None:
        return more
    total.contents += more.contents
    for modality, usage in more.usage.items():
        total.usage.setdefault(modality, Usage()).add(usage)
    return total


def _attach_or_create(jobs: BatchJobs, state: JobState, report: BatchJobReport) -> JobInfo:
    if state.job_name:
        try:
            job = jobs.get(state.job_name)
        except NotFoundError as exc:
            raise BatchJobStateError(f"{report.state_file} names {state.job_name}, which the service no longer has "
                                     "(deleted?): delete the state file to submit the input again") from exc
    else:
        # A killed run may have created the job and died before saving its name.
        found = jobs.find(state.display_name, state.staged_inputs)
        report.reattached = report.reattached or found is not None
        try:
            job = found or jobs.create(display_name=state.display_name, inputs=state.staged_inputs,
                                       output_prefix=state.output_prefix)
        except BatchJobRefusedError:
            report.state_file.unlink(missing_ok=True)  # no job was made: nothing to re-attach to
            raise
        state.job_name = job.name
        state.save(report.state_file)
    report.jobs.append(job.name.rsplit("/", 1)[-1])
    return job


def _poll(jobs: BatchJobs, job: JobInfo, rows: int, progress: bool, interval: float,
          sleep: Callable[[float], None]) -> JobInfo:
    with Progress(rows, enabled=progress, desc=f"batch job {job.name.rsplit('/', 1)[-1]}", unit="input") as bar:
        while True:
            # completionStats only grow; the bar follows them.
            for _ in range(job.successful - (bar.done - bar.failed)):
                bar.item_done(True)
            for _ in range(job.failed - bar.failed):
                bar.item_done(False)
            if job.ended or job.state == PAUSED_STATE:
                return job
            sleep(interval)
            job = jobs.get_patiently(job.name, interval)


def _collect(job: JobInfo, state: JobState, gcs: Any, journal: Journal, errors: ErrorSet,
             report: BatchJobReport) -> None:
    """Collect what the job wrote, whatever way it ended: a FAILED, EXPIRED or CANCELLED job keeps
    the rows it finished in its output ("Resume an incomplete batch inference job"), and they
    were billed, so they go into the journal; only the rows it never ran are retried."""
    failed = job.state in FAILED_STATES
    if job.state == "JOB_STATE_CANCELLED":
        why = "the job was cancelled before this input ran"
    elif failed:
        why = f"the job ended {job.state} before this input ran"
    else:
        why = "the job wrote no output line for this input"
    # A job that failed may not report its output folder: its rows are still under our prefix
    # (the prefix is named after the input's digest, so anything there is output of this input).
    directory = job.output_directory or (state.output_prefix if failed else None)
    found = collect_outputs(gcs, directory, state, journal=journal, errors=errors, missing_reason=why)
    journal.sync()
    report.embedded += found.embedded
    report.first_errors += found.first_errors[: max(0, FIRST_ERRORS - len(report.first_errors))]
    report.state_file.unlink(missing_ok=True)
    if failed:
        raise BatchJobFailedError(
            f"batch prediction job {job.name} ended {job.state}: {job.error or 'no reason given'}; "
            f"{found.embedded} of its {state.rows} inputs were collected, {found.missing} never ran: run again "
            "to submit those as a new job")
