"""Where a job's results go: an append-only JSONL journal, and Parquet made from it.

The journal is the job's memory. Each result is one line, written with one ``write`` call as
soon as it arrives (so a killed process loses at most the lines the kernel never got) and
fsync'd in small groups (so a power cut loses at most a group). On resume the journal is
scanned: complete lines are done, a torn last line (a kill mid-write) is cut off, and the
job appends from there. Each input is keyed by its id and content hash, so a changed file
is embedded again and the last line for an id wins.

Parquet cannot be appended to safely, so ``--format parquet`` keeps the journal beside the
output (``OUT.journal.jsonl``) and writes the Parquet file from it, atomically, when the job
has finished. Its columns (``id``, ``content_hash``, ``space``, ``embedding`` as a list of
float32) load into BigQuery as they are.

A line that is complete but not a record (not JSON, not an object, no string ``id``) is
*bad*: the resume scan counts it and does not trust it, and :func:`read_journal` and
:func:`export_parquet` skip it the same way (:func:`parse_record` is the one rule). Only one
run writes a journal at a time: :class:`Journal` holds an exclusive lock (``OUT.lock``,
``flock``, released when the run ends, even by a kill), and a second run gets a
:class:`JournalLockedError` naming the first one's process id. Errors::

    VertexMMError
    └── JournalError
        ├── JournalLockedError        another run is writing this journal
        ├── JournalSpaceError         the journal holds another embedding space (journal_space)
        └── JournalLineError          a journal line is not a record (from parse_record)
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._jsonl import escape_utf8, is_utf8, json_line
from .journal_lock import JournalError, JournalLockedError, lock_journal, unlock_journal
from .journal_space import JournalSpaceError, check_journal_space
from .resume import ResumeSet

__all__ = [
    "Journal",
    "JournalError",
    "JournalLineError",
    "JournalLockedError",
    "JournalSpaceError",
    "JournalStats",
    "embedding_problem",
    "export_parquet",
    "parse_record",
    "read_journal",
]


class JournalLineError(JournalError):
    """Raised by :func:`parse_record` for a line that is not a record; the resume scan and
    the readers count such lines and go on."""


def parse_record(line: bytes | str) -> dict[str, Any]:
    """One complete journal line as a record: a JSON object with a string ``id``, a string
    (or absent) ``content_hash`` and ``space``, and an ``embedding`` that is a non-empty list
    of finite numbers. Raises :class:`JournalLineError` otherwise."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
        raise JournalLineError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        raise JournalLineError(f"a JSON {type(record).__name__}, not an object")
    if not isinstance(record.get("id"), str):
        raise JournalLineError("no string 'id'")
    for name in ("content_hash", "space"):
        if not isinstance(record.get(name, ""), (str, type(None))):
            raise JournalLineError(f"{name!r} is not a string")
    problem = embedding_problem(record.get("embedding"))
    if problem is not None:
        raise JournalLineError(f"'embedding' {problem}")
    return record


#: float32's largest value: a larger one is infinite in every index and export.
_FLOAT32_MAX = 3.4028234663852886e38


def embedding_problem(vec: Any, dimension: int | None = None) -> str | None:
    """Why ``vec`` is not an embedding a journal may hold, or None: a non-empty list of finite
    numbers within float32's range, not all zero (an index cannot compare a direction it does
    not have), of ``dimension`` values when given. Records are checked before they are written,
    and again when read (:func:`parse_record`)."""
    if not isinstance(vec, list) or not vec:
        return "is not a non-empty list"
    # bool is an int to Python, and json.loads gives float('nan') for NaN: neither is a value.
    if not all(type(v) is float or type(v) is int for v in vec):
        return "holds a value that is not a number"
    peak = max(map(abs, vec))
    if not math.isfinite(peak) or peak > _FLOAT32_MAX:
        return f"holds {peak!r}: not a finite number within float32's range (+-3.4e38)"
    if peak == 0:
        return "is all zeros (no direction to compare)"
    if dimension is not None and len(vec) != dimension:
        return f"has {len(vec)} values, not {dimension}"
    return None


def _as_list(vec: Any) -> Any:
    # Records carry lists, tuples or numpy arrays of floats (encode_record writes each as a list).
    if vec is None or isinstance(vec, (list, str, bytes, dict)):
        return vec
    try:
        return [float(v) for v in vec]
    except (TypeError, ValueError):
        return vec


def _content_hash(record: dict[str, Any]) -> str:
    return str(record.get("content_hash") or "")


@dataclass
class JournalStats:
    """What a read of a journal found: records, and the lines that were not records."""

    records: int = 0
    bad_lines: int = 0
    #: Records per embedding space id (records without a ``space`` are not counted).
    spaces: dict[str, int] = field(default_factory=dict)
    #: Bytes up to the end of the last complete line read (good or bad).
    complete_bytes: int = 0
    #: Line numbers (1-based) of the first bad lines, for messages.
    first_bad_lines: list[int] = field(default_factory=list)

    def bad(self, lineno: int) -> None:
        self.bad_lines += 1
        if len(self.first_bad_lines) < 10:
            self.first_bad_lines.append(lineno)


def _format_vector(vec: Sequence[float]) -> str:
    # 9 significant digits round-trip float32 exactly, at half the size of float64 reprs.
    return "[" + ",".join(f"{float(x):.9g}" for x in vec) + "]"


def encode_record(record: dict[str, Any]) -> bytes:
    """One JSON line; the ``embedding`` list is written compactly as float32 values."""
    vec = record.get("embedding")
    head = {k: v for k, v in record.items() if k != "embedding"}
    text = json_line(head, separators=(",", ":"))
    if vec is not None:
        text = text[:-1] + (',' if head else '') + '"embedding":' + _format_vector(vec) + "}"
    return (text + "\n").encode("utf-8")


class Journal:
    """An append-only JSONL file of result records keyed by ``id`` and ``content_hash``.

    >>> with Journal("out.jsonl") as journal:
    ...     journal.is_done("a.jpg", "sha256:…")   # written by a previous run with this content?
    ...     journal.write({"id": "a.jpg", "content_hash": "sha256:…", "embedding": [...]})

    ``done`` is a :class:`~vertex_mm.jobs.resume.ResumeSet` (16 bytes a record, not a dict).
    While open, the journal is locked against other runs (:class:`JournalLockedError`). With
    ``space`` (an embedding space id), opening a journal that holds records of another space
    raises :class:`JournalSpaceError` (see :mod:`.journal_space`).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_every: int = 32, fsync_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, space: str | None = None) -> None:
        if fsync_every < 1:
            raise ValueError(f"fsync_every must be >= 1, got {fsync_every}")
        self.path = pathlib.Path(path).expanduser()
        self.space = space
        self.fsync_every = fsync_every
        self.fsync_interval = fsync_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None  # the lock file, held while open
        self._unsynced = 0
        self._last_sync = clock()
        #: (id, content hash) of every complete record, from earlier runs and this one.
        self.done = ResumeSet()
        #: What the resume scan found: complete records, torn bytes cut off, unreadable lines.
        self.scanned = 0
        self.torn_bytes = 0
        self.bad_lines = 0
        #: Line numbers of the first bad lines (see :func:`parse_record`).
        self.first_bad_lines: list[int] = []
        self.written = 0

    @property
    def lock_path(self) -> pathlib.Path:
        # Next to the file the path resolves to: two runs through a symlink and its target
        # are two names of one journal, and took two locks.
        real = pathlib.Path(os.path.realpath(self.path))
        return real.with_name(real.name + ".lock")

    # -- resume ------------------------------------------------------------------------------
    def open(self) -> "Journal":
        """Lock the journal, scan what is there (cutting off a torn last line) and open it for
        appending. Raises :class:`JournalLockedError` when another run has it open, and
        :class:`JournalSpaceError` when it holds records of another space than ``space``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_journal(self.lock_path, self.path)
        try:
            if self.path.exists():
                self._scan_and_repair()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except BaseException:
            self._unlock()
            raise
        return self

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            unlock_journal(self._lock_fd)
            self._lock_fd = None

    def _scan_and_repair(self) -> None:
        stats = JournalStats()
        self.done = ResumeSet.from_pairs((r["id"], _content_hash(r)) for _, r in _records(self.path, stats))
        if self.space is not None:
            check_journal_space(self.path, stats.spaces, self.space)
        good_end = stats.complete_bytes  # bad lines are complete lines too: only a torn tail is cut
        self.scanned, self.bad_lines, self.first_bad_lines = stats.records, stats.bad_lines, stats.first_bad_lines
        size = self.path.stat().st_size
        if size > good_end:
            self.torn_bytes = size - good_end
            with self.path.open("r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())

    def is_done(self, item_id: str, content_hash: str | None) -> bool:
        """Whether the journal holds ``item_id`` with ``content_hash`` (any content when None)."""
        return self.done.matches(item_id, content_hash)

    # -- append ------------------------------------------------------------------------------
    def write(self, record: dict[str, Any]) -> bool:
        """Append one record (one ``write`` call); False if this id and hash are already in.
        Raises ``ValueError`` for an embedding :func:`parse_record` would refuse (callers
        check it first, with :func:`embedding_problem`, and report the item as failed)."""
        item_id, content_hash = str(record["id"]), _content_hash(record)
        problem = embedding_problem(_as_list(record.get("embedding")))
        if problem is not None:
            raise ValueError(f"{item_id}: the embedding {problem}; a journal keeps only what it can read back")
        data = encode_record(record)
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"journal {self.path} is not open")
            if self.done.matches(item_id, content_hash):
                return False  # exactly once, even if a caller delivers twice
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self.done.add(item_id, content_hash)
            self.written += 1
            self._unsynced += 1
            if self._unsynced >= self.fsync_every or self._clock() - self._last_sync >= self.fsync_interval:
                self._sync_locked()
        return True

    def _sync_locked(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
        self._unsynced = 0
        self._last_sync = self._clock()

    def sync(self) -> None:
        with self._lock:
            self._sync_locked()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._sync_locked()
                os.close(self._fd)
                self._fd = None
            self._unlock()

    def __enter__(self) -> "Journal":
        return self if self._fd is not None else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _records(path: str | os.PathLike[str], stats: JournalStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(end offset, record)`` of each record of a journal in file order; lines that are not
    records are counted in ``stats``, a torn last line is left out."""
    end = 0
    with pathlib.Path(path).open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break  # a torn last line: the process died inside its write
            end += len(line)
            stats.complete_bytes = end
            try:
                record = parse_record(line)
            except JournalLineError:
                stats.bad(lineno)
                continue
            stats.records += 1
            space = record.get("space")
            if space:
                stats.spaces[space] = stats.spaces.get(space, 0) + 1
            yield end, record


def read_journal(path: str | os.PathLike[str], stats: JournalStats | None = None) -> Iterator[dict[str, Any]]:
    """The records of a journal, in file order: a torn last line and the lines that are not
    records (:func:`parse_record`) are skipped, and counted in ``stats`` when given."""
    for _, record in _records(path, stats if stats is not None else JournalStats()):
        yield record


def export_parquet(journal: str | os.PathLike[str], out: str | os.PathLike[str], *, rows_per_group: int = 8192,
                   stats: JournalStats | None = None) -> int:
    """Write the journal's latest record per id to a Parquet file; returns the row count.

    Lines that are not records are skipped (counted in ``stats``), as the resume scan skips
    them. Written to a temporary file and renamed into place, so ``out`` is always whole; the
    temporary file is removed when the export fails.
    """
    from .._optional import require

    pa = require("parquet", "pyarrow", what="Parquet output")
    pq = require("parquet", "pyarrow.parquet", what="Parquet output")
    last: dict[str, int] = {}
    for n, record in enumerate(read_journal(journal)):
        last[record["id"]] = n
    keep = set(last.values())
    del last
    schema = pa.schema([
        ("id", pa.string()),
        ("content_hash", pa.string()),
        ("space", pa.string()),
        ("embedding", pa.list_(pa.float32())),
    ])
    out = pathlib.Path(out)
    tmp = out.with_name(out.name + ".tmp")
    rows = 0
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            def flush() -> None:
                if columns["id"]:
                    writer.write_table(pa.table(columns, schema=schema))
                    for values in columns.values():
                        values.clear()

            escaped: list[str] = []
            for n, record in enumerate(read_journal(journal, stats)):
                if n not in keep:
                    continue
                for name in schema.names:
                    columns[name].append(record.get(name))
                if not is_utf8(record["id"]):
                    columns["id"][-1] = escape_utf8(record["id"])
                    escaped.append(record["id"])
                rows += 1
                if len(columns["id"]) >= rows_per_group:
                    flush()
            flush()
        if escaped:
            # Parquet strings are UTF-8: the row is kept, its id with the bytes UTF-8 cannot
            # read written as \xNN (the JSONL output keeps such ids exactly).
            warnings.warn(f"{len(escaped)} ids are not UTF-8 text (file names in another encoding?), e.g. "
                          f"{escaped[0]!r}: written to {out.name} with those bytes as \\xNN escapes "
                          f"({escape_utf8(escaped[0])}); JSONL output keeps them exactly", stacklevel=2)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows
