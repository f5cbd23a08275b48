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
"""

from __future__ import annotations

import json
import os
import pathlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["ErrorLog", "Journal", "error_entry", "export_parquet", "read_journal", "write_errors"]


def _format_vector(vec: Sequence[float]) -> str:
    # 9 significant digits round-trip float32 exactly, at half the size of float64 reprs.
    return "[" + ",".join(f"{float(x):.9g}" for x in vec) + "]"


def encode_record(record: dict[str, Any]) -> bytes:
    """One JSON line; the ``embedding`` list is written compactly as float32 values."""
    vec = record.get("embedding")
    head = {k: v for k, v in record.items() if k != "embedding"}
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    if vec is not None:
        text = text[:-1] + (',' if head else '') + '"embedding":' + _format_vector(vec) + "}"
    return (text + "\n").encode("utf-8")


class Journal:
    """An append-only JSONL file of result records keyed by ``id`` and ``content_hash``.

    >>> with Journal("out.jsonl") as journal:
    ...     done = journal.done              # {id: content_hash} of what a previous run wrote
    ...     journal.write({"id": "a.jpg", "content_hash": "sha256:…", "embedding": [...]})
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_every: int = 32, fsync_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if fsync_every < 1:
            raise ValueError(f"fsync_every must be >= 1, got {fsync_every}")
        self.path = pathlib.Path(path).expanduser()
        self.fsync_every = fsync_every
        self.fsync_interval = fsync_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._unsynced = 0
        self._last_sync = clock()
        #: id -> content hash of every complete record, from earlier runs and this one.
        self.done: dict[str, str] = {}
        #: What the resume scan found: complete records, torn bytes cut off, unreadable lines.
        self.scanned = 0
        self.torn_bytes = 0
        self.bad_lines = 0
        self.written = 0

    # -- resume ------------------------------------------------------------------------------
    def open(self) -> "Journal":
        """Scan what is there (cutting off a torn last line) and open for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._scan_and_repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def _scan_and_repair(self) -> None:
        good_end = 0
        with self.path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # a torn last line: the process died inside its write
                good_end += len(line)
                try:
                    record = json.loads(line)
                    self.done[str(record["id"])] = str(record.get("content_hash", ""))
                    self.scanned += 1
                except (ValueError, KeyError, TypeError):
                    self.bad_lines += 1
        size = self.path.stat().st_size
        if size > good_end:
            self.torn_bytes = size - good_end
            with self.path.open("r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())

    def is_done(self, item_id: str, content_hash: str | None) -> bool:
        return item_id in self.done and (content_hash is None or self.done[item_id] == content_hash)

    # -- append ------------------------------------------------------------------------------
    def write(self, record: dict[str, Any]) -> bool:
        """Append one record (one ``write`` call); False if this id and hash are already in."""
        item_id, content_hash = str(record["id"]), str(record.get("content_hash", ""))
        data = encode_record(record)
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"journal {self.path} is not open")
            if self.done.get(item_id) == content_hash:
                return False  # exactly once, even if a caller delivers twice
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self.done[item_id] = content_hash
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

    def __enter__(self) -> "Journal":
        return self if self._fd is not None else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_entry(item_id: str, error: BaseException) -> dict[str, Any]:
    """One line of ``OUT.errors.jsonl``: id, error (the type), message, retryable, time."""
    return {
        "id": item_id,
        "error": type(error).__name__,
        "message": str(error),
        "retryable": bool(getattr(error, "retryable", False)),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_errors(path: str | os.PathLike[str], entries: Sequence[dict[str, Any]]) -> None:
    """Replace ``path`` with ``entries`` atomically (a batch job writes its errors once, at the
    end, so each failed input is listed exactly once); no entries removes the file."""
    path = pathlib.Path(path)
    if not entries:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ErrorLog:
    """``OUT.errors.jsonl``: one line per failed input of a run (not used for resuming:
    failed inputs are tried again on the next run). Opened on the first error only."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)
        self._file: Any = None
        self.count = 0

    def write(self, item_id: str, error: BaseException) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(error_entry(item_id, error), ensure_ascii=False) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_journal(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The complete records of a journal, in file order (a torn last line is skipped)."""
    with pathlib.Path(path).open("rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def export_parquet(journal: str | os.PathLike[str], out: str | os.PathLike[str], *, rows_per_group: int = 8192) -> int:
    """Write the journal's latest record per id to a Parquet file; returns the row count.

    Written to a temporary file and renamed into place, so ``out`` is always whole.
    """
    from .._optional import require

    pa = require("parquet", "pyarrow", what="Parquet output")
    pq = require("parquet", "pyarrow.parquet", what="Parquet output")
    last: dict[str, int] = {}
    for n, record in enumerate(read_journal(journal)):
        last[str(record["id"])] = n
    keep = set(last.values())
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
    with pq.ParquetWriter(tmp, schema) as writer:
        def flush() -> None:
            if columns["id"]:
                writer.write_table(pa.table(columns, schema=schema))
                for values in columns.values():
                    values.clear()

        for n, record in enumerate(read_journal(journal)):
            if n not in keep:
                continue
            for name in schema.names:
                columns[name].append(record.get(name))
            rows += 1
            if len(columns["id"]) >= rows_per_group:
                flush()
        flush()
    os.replace(tmp, out)
    return rows
