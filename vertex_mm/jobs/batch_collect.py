"""Reading a finished batch prediction job back: every output line into the journal (the same
records as the online path: ``id``, ``content_hash``, ``space``, ``embedding``) or into the
errors, so that each input of the job ends up exactly once in one of them.

The output files are every ``*.jsonl`` under ``outputInfo.gcsOutputDirectory``
(``predictions.jsonl`` for Gemini models; ``predictions_0001.jsonl``… are accepted too),
streamed line by line. A row is matched to its input by ``key`` (the input's id). A row with
a ``status`` is that input's typed error; an input with no row at all gets a retryable
:class:`~vertex_mm.errors.NotRunError` (the next run submits it again). Collecting twice (a
client killed while collecting) writes nothing twice: the journal keeps one record per id and
content hash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIError, NotRunError
from ..gcs import list_objects
from ..wire import parse_batch_output_line
from .batch_errors import row_error
from .batch_state import JobState
from .errors_file import error_entry
from .job import FIRST_ERRORS
from .writer import Journal, embedding_problem

__all__ = ["Collected", "ErrorSet", "collect_outputs"]


class ErrorSet:
    """The failed inputs of a run, one entry per id (the last error wins)."""

    def __init__(self, entries: Sequence[dict[str, Any]] = ()) -> None:
        self._entries: dict[str, dict[str, Any]] = {str(e["id"]): dict(e) for e in entries}

    def add(self, item_id: str, error: BaseException) -> dict[str, Any]:
        entry = self._entries[item_id] = error_entry(item_id, error)
        return entry

    def add_entry(self, entry: dict[str, Any]) -> None:
        """An entry as written before (a resumed run keeps the original error type)."""
        self._entries[str(entry["id"])] = dict(entry)

    def discard(self, item_id: str) -> None:
        self._entries.pop(item_id, None)

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class Collected:
    """What one collection found."""

    embedded: int = 0
    failed: int = 0
    missing: int = 0
    unknown_rows: int = 0
    first_errors: list[str] = field(default_factory=list)


def _lines(f: Any, chunk_bytes: int = 8 * 1024 * 1024) -> Iterator[bytes]:
    """The lines of a binary file read in large chunks. (google-cloud-storage's BlobReader has
    no ``readline``, so iterating it reads one byte per call: hours for a 30 GB output.)"""
    rest = b""
    while True:
        chunk = f.read(chunk_bytes)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def _unit(values: list[float]) -> list[float]:
    # The service normalises its vectors; doing it again is a guard, as on the online path.
    # hypot scales as it goes: a sum of squares of values near 1e200 would overflow to inf.
    norm = math.hypot(*values)
    return [v / norm for v in values] if norm > 0 else values


def collect_outputs(client: Any, output_directory: str | None, state: JobState, *, journal: Journal,
                    errors: ErrorSet, missing_reason: str) -> Collected:
    """Write every output row of the job into ``journal`` / ``errors``; inputs of ``state``
    with no row get a :class:`NotRunError` saying ``missing_reason``."""
    found = Collected()
    seen: set[str] = set()

    def fail(key: str, error: BaseException) -> None:
        item_id = state.item_id(key)
        errors.add(item_id, error)
        found.failed += 1
        if len(found.first_errors) < FIRST_ERRORS:
            found.first_errors.append(f"{item_id}: {type(error).__name__}: {error}")

    blobs = list_objects(client, output_directory.rstrip("/") + "/", suffix=".jsonl") if output_directory else ()
    for blob in blobs:
        with blob.open("rb") as f:
            for raw in _lines(f):
                if not raw.strip():
                    continue
                try:
                    key, values, status = parse_batch_output_line(json.loads(raw))
                except ValueError:
                    found.unknown_rows += 1
                    continue
                if key not in state.items or key in seen:
                    found.unknown_rows += 1  # not ours, or a row delivered twice
                    continue
                seen.add(key)
                if status is not None or values is None:
                    fail(key, row_error(key, status or "no embedding"))
                elif len(values) != state.dimension:
                    fail(key, APIError(f"{key}: asked for {state.dimension} dimensions, the job returned {len(values)}"))
                elif (problem := embedding_problem(values)) is not None:  # never journalled: no index could use it
                    fail(key, APIError(f"{key}: the vector the job returned {problem}"))
                else:
                    journal.write({"id": state.item_id(key), "content_hash": state.items[key], "space": state.space,
                                   "embedding": _unit(values)})
                    errors.discard(state.item_id(key))
                    found.embedded += 1
    for key in state.items.keys() - seen:
        found.missing += 1
        fail(key, NotRunError(f"{key}: {missing_reason}"))
    return found
