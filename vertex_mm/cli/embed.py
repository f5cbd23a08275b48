"""``vertex-mm embed``: embed every file of a folder, list file or bucket into a file; resumable.

    vertex-mm embed photos/ --out photos.jsonl --project my-proj --rpm 600
    vertex-mm embed gs://my-bucket/photos/ --out photos.parquet --dimension 512
    vertex-mm embed list.txt --out out.jsonl --backend local --cache ~/.cache/vertex-mm/emb.sqlite
    vertex-mm embed docs/ --out docs.jsonl --backend gemini --task retrieval_document --dimension 768 \\
        --mode job --staging gs://my-bucket/vertex-mm

SOURCE is a folder (searched recursively), a list file (one path or gs:// URI per line), or
gs://bucket/prefix. Which files: those the model reads, by their names; others are not taken.
--media images (the default for vertex and local) takes .jpg/.jpeg/.png/.gif/.bmp/.webp, and
with gemini .jpg/.jpeg/.png/.webp/.bmp/.heic/.heif/.avif (no GIF). --media all (the default for
gemini; local embeds contents too) takes those images (no GIF), PDFs (.pdf), audio (.mp3/.wav)
and video (.mp4/.m4v/.mov), each file one content. Each result is appended to the output as it
arrives. Run the same command again after Ctrl-C, a crash or kill -9: what is done is skipped,
and no input is embedded twice. A file that changed is embedded again and its new line comes
later (the last line of an id wins, as the index and Parquet readers take it). The inputs that still fail are
listed in OUT.errors.jsonl, once each, and tried again on the next run. A rerun must embed in
the output's space: another --backend, --dimension or --task is refused (vectors of two spaces never share one output).

--mode online (the default) calls the service once per input at --rpm. --mode job (gemini)
sends the inputs as a Vertex AI batch prediction job, at about half the price: they are
staged as JSONL under --staging, the job is polled with a progress bar, and its results are
collected into the same output. OUT.job.json remembers the job, so a client killed while the
job runs re-attaches to it instead of submitting again. --mode auto takes the job when the
online path would need more than an hour at --rpm (and --staging is given). A cost estimate
per modality is printed before a job is submitted; --dry-run prints it and stops.

JSONL lines hold id, content_hash, space and embedding. Parquet (needs pyarrow) has the same
columns, for `bq load --source_format=PARQUET`; its journal is kept in OUT.journal.jsonl.

Exit status: 0 when every input is done, 1 when some failed, 2 when it could not run (a batch
job refused or failed as a whole included), 130 when interrupted (Ctrl-C), 143 on SIGTERM (stopped as
Ctrl-C stops it: the answers in flight are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._backend import _positive, add_backend_arguments, add_rate_arguments, backend_options, rate_options
from ._errors import UsageError
from ._signals import SIGTERM_EXIT, sigterm_as_interrupt

__all__ = ["HELP", "add_arguments", "run"]


HELP = "embed a folder, list file or gs:// prefix of images or media into JSONL or Parquet (resumable; online or batch job)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="folder, list file, or gs://bucket/prefix")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (.jsonl or .parquet)")
    add_backend_arguments(p, default="vertex", dimension="embedding length (multimodalembedding@001: 128, 256, 512 "
                                                         "or 1408; gemini-embedding-2: 128 to 3072)")
    p.add_argument("--mode", choices=("online", "job", "auto"), default="online",
                   help="online requests (default), a Vertex AI batch prediction job (gemini; about half the price), "
                        "or auto: the job when online would take more than an hour at --rpm")
    p.add_argument("--staging", metavar="GS_PREFIX", help="gs://bucket/prefix for a batch job's input and output")
    p.add_argument("--task", help="task preset of gemini-embedding-2 (retrieval_document, retrieval_query, ...); "
                                  "recorded in the space")
    p.add_argument("--media", choices=("images", "all"),
                   help="which files: images only, or all media the model reads (images, PDF, MP3/WAV audio, "
                        "MP4/MOV video; one content each). Default: all for gemini, images otherwise")
    add_rate_arguments(p)
    p.add_argument("--cache", metavar="PATH", help="sqlite embedding cache: repeated inputs (images or contents) cost nothing")
    p.add_argument("--format", choices=("jsonl", "parquet"), help="default: from the --out suffix")
    p.add_argument("--poll-interval", type=_positive(float), default=30.0, metavar="SECONDS",
                   help="seconds between looks at a running batch job (default 30)")
    p.add_argument("--dry-run", action="store_true", help="print the cost estimate (gemini) and the mode, send nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _batch_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = rate_options(args)
    if args.cache:
        options["cache"] = args.cache
    return options


def _say(text: str) -> None:
    print(f"vertex-mm embed: {text}", file=sys.stderr, flush=True)


def _check_flags(args: argparse.Namespace) -> str:
    """The --media in effect; raises UsageError for flags that do not go together."""
    media: str = args.media or ("all" if args.backend == "gemini" else "images")
    if media == "all" and args.backend == "vertex":  # every file would fail on its own, run after run
        raise UsageError("--media all embeds each file as one content (image, PDF, audio or video), and "
                         "multimodalembedding@001 embeds no contents: use --media images, or --backend gemini")
    if args.task is not None and media != "all":
        raise UsageError("--task conditions contents: it needs --media all (the default for --backend gemini)")
    if args.mode == "job":
        if args.backend != "gemini":
            raise UsageError(f"--mode job runs Vertex AI batch prediction jobs of gemini-embedding-2: it needs "
                             f"--backend gemini (got {args.backend})")
        if not args.staging:
            raise UsageError("--mode job needs --staging gs://bucket/prefix (the job's input and output go there)")
    ending = Path(args.out).suffix.lower()
    suffix = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}.get(ending)
    if ending and suffix is None and not args.format:  # out.npy was written as JSONL that np.load cannot read
        raise UsageError(f"--out {args.out}: vertex-mm embed writes JSONL (.jsonl) or Parquet (.parquet), not "
                         f"{ending}; name the file so, or pass --format to write one of them under this name")
    if args.format and suffix and args.format != suffix:
        raise UsageError(f"--format {args.format} writes {args.format}, but --out {args.out} names a {suffix} file: "
                         f"change the suffix or the format")
    if args.staging:
        from ..gcs import check_gs_prefix

        check_gs_prefix(args.staging, name="--staging")
    return media


def _choose_mode(args: argparse.Namespace, embedder: Any, extensions: frozenset[str]) -> str:
    if args.mode != "auto":
        return str(args.mode)
    from ..jobs import job_paths, read_journal
    from ..jobs.mode import AUTO_JOB_ABOVE_SECONDS, choose_mode, count_inputs
    from ..jobs.resume import ResumeSet

    rpm = embedder.batch.requests_per_minute
    limit = int(rpm * AUTO_JOB_ABOVE_SECONDS / 60) + 1 if rpm else 1
    # What is left decides, not the source's size: a rerun for 2 new files must not queue a job.
    journal = job_paths(args.out, args.format)[2]
    done = ResumeSet.from_pairs((r["id"], "") for r in read_journal(journal)) if journal.exists() else ResumeSet()
    choice = choose_mode(inputs=count_inputs(args.source, extensions=extensions, limit=limit, done=done),
                         requests_per_minute=rpm, backend=args.backend, staging=args.staging)
    _say(f"--mode auto chose {choice.mode}: {choice.reason}")
    return choice.mode


def run(args: argparse.Namespace) -> int:
    from ..jobs.contents import extensions_for
    from ..registry import get_embedder

    media = _check_flags(args)
    embedder = get_embedder(args.backend, **backend_options(args))
    # The files the model reads, as index takes them: a GIF or a WebM clip under gemini was
    # picked up by --media all and failed on every rerun.
    extensions = extensions_for(embedder, contents=media == "all")
    try:
        embedder.configure_batch(**_batch_options(args))
        # A bad --dimension or --task fails before any work.
        if media == "all":
            embedder.content_space(args.dimension, task=args.task)
        else:
            embedder.space(args.dimension)
        mode = _choose_mode(args, embedder, extensions)
        if args.dry_run:
            return _dry_run(args, embedder, mode, extensions, contents=media == "all")
        stopped_by: list[int] = []
        with sigterm_as_interrupt(stopped_by):
            if mode == "job":
                report = _run_batch_job(args, embedder, extensions)
            else:
                report = _run_online(args, embedder, media == "all")
        # (a run that only re-attached to a batch job lists nothing, yet ran: it names its job)
        if not report.interrupted and report.seen == 0 and not getattr(report, "jobs", None):
            # index and pages index refuse an empty source too: a mistyped folder, or one of
            # formats this backend does not take, is no success
            kinds = "contents (images, PDF, audio, video)" if media == "all" else "images of " + ", ".join(
                sorted(e.lstrip(".") for e in extensions))
            raise UsageError(f"no inputs under {args.source}: it holds no {kinds}")
        return _finish(report, SIGTERM_EXIT if stopped_by else 130)
    finally:
        embedder.close()


def _dry_run(args: argparse.Namespace, embedder: Any, mode: str, extensions: frozenset[str], *, contents: bool) -> int:
    from ..jobs import job_paths
    from ..jobs.estimate import check_source, estimate_source
    from ..jobs.sources import LeftOut

    journal = job_paths(args.out, args.format)[2]
    left_out = LeftOut()
    if args.backend == "gemini":
        estimate, failures = estimate_source(embedder, args.source, journal=journal, dimension=args.dimension,
                                             task=args.task, extensions=extensions, passed_over=left_out)
        print(estimate.format(), file=sys.stderr)
        head = f"--dry-run: mode {mode}"
    else:  # the same checks as the run (contents or images), without a price: the table covers gemini-embedding-2 only
        pending, failures = check_source(embedder, args.source, journal=journal, dimension=args.dimension,
                                         task=args.task, contents=contents, extensions=extensions, passed_over=left_out)
        head = f"--dry-run: mode {mode}; {pending} inputs to send (no price: the table covers gemini-embedding-2 only)"
    if left_out.count:
        head += f"; {left_out.describe()}"
    _print_failures(head, failures)
    _say("--dry-run: nothing was sent")
    return 0


def _print_failures(head: str, failures: list[str]) -> None:
    from ..jobs.job import FIRST_ERRORS

    _say(f"{head}; {len(failures)} inputs would fail before sending{':' if failures else ''}")
    for line in failures[:FIRST_ERRORS]:
        print(f"  {line}", file=sys.stderr)
    if len(failures) > FIRST_ERRORS:
        print(f"  ... and {len(failures) - FIRST_ERRORS} more", file=sys.stderr)


def _run_online(args: argparse.Namespace, embedder: Any, contents: bool) -> Any:
    from ..jobs import run_job

    return run_job(embedder, args.source, args.out, dimension=args.dimension, fmt=args.format,
                   progress=not args.no_progress, contents=contents, task=args.task)


def _run_batch_job(args: argparse.Namespace, embedder: Any, extensions: frozenset[str]) -> Any:
    from ..jobs.batch_prediction import run_batch_job

    def show(estimate: Any) -> None:
        print(estimate.format(), file=sys.stderr, flush=True)
        _say("submitting the batch prediction job")

    return run_batch_job(embedder, args.source, args.out, staging=args.staging, dimension=args.dimension,
                         task=args.task, fmt=args.format, progress=not args.no_progress,
                         poll_interval=args.poll_interval, on_estimate=show, extensions=extensions)


def _finish(report: Any, interrupted_exit: int) -> int:
    """Print a job's summary and first errors; the exit code (``interrupted_exit``: 130 for
    Ctrl-C, 143 for SIGTERM; 1 failures)."""
    _say(report.summary())
    for line in report.error_lines():
        print(f"  {line}", file=sys.stderr)
    if report.interrupted:
        return interrupted_exit
    return 1 if report.failed else 0
