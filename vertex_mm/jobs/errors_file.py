"""``OUT.errors.jsonl``: the inputs that failed and have not been embedded since, one line each.

Each line is ``{"id", "error" (the type), "message", "retryable", "time"}``. It is a report for
people and scripts (which inputs to look at, or retry); resuming does not read it: failed inputs
are tried again on the next run whatever it says.

A batch job writes it after each job's output is collected (:func:`write_errors`); an earlier
run's entries for inputs not yet done are kept until a run has been through the whole source. The online
job appends each failure the moment it happens (:class:`ErrorLog`: a killed run keeps them), and
settles the file when the run ends: this run's failures, plus, when the run stopped before the
end of its source, the earlier runs' failures of inputs it did not reach.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any

from .._jsonl import json_line

__all__ = ["ErrorLog", "error_entry", "read_errors", "write_errors"]


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
    """Replace ``path`` with ``entries`` atomically (each failed input listed exactly once);
    no entries removes the file."""
    path = pathlib.Path(path)
    if not entries:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json_line(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_errors(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The entries of an errors file by id (the last line of an id wins); lines that are not
    entries (torn by a kill, edited by hand) are skipped. No file: no entries."""
    out: dict[str, dict[str, Any]] = {}
    try:
        f = pathlib.Path(path).open("rb")
    except FileNotFoundError:
        return out
    with f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                out[entry["id"]] = entry
    return out


class ErrorLog:
    """The online job's ``OUT.errors.jsonl``: each failure is appended as it happens (opened on
    the first one), then :meth:`settle` leaves the file listing each input that still fails once.

    Before, the file only grew: an input embedded on a later run stayed listed as failed, one
    that failed twice was listed twice, and a run with no failure left the old file behind."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)
        self._earlier = read_errors(self.path)
        self._file: Any = None
        self._entries: dict[str, dict[str, Any]] = {}
        self.count = 0

    def write(self, item_id: str, error: BaseException) -> None:
        entry = error_entry(item_id, error)
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json_line(entry) + "\n")
        self._file.flush()
        self._entries[item_id] = entry
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def settle(self, *, whole_source: bool, resolved: Any) -> None:
        """Rewrite the file to the failures that stand. ``whole_source``: the run went through
        its whole source, so only this run's failures stand; otherwise earlier failures of the
        inputs not in ``resolved`` (embedded, found done, or failed again by this run: anything
        with ``__contains__``) stand as well."""
        self.close()
        kept = [] if whole_source else [e for i, e in self._earlier.items() if i not in resolved and i not in self._entries]
        write_errors(self.path, kept + list(self._entries.values()))
