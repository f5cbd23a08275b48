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

from ..errors import APIError, NotRunError, VertexMMError
from ..gcs import list_objects, split_gs_uri, storage_error
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

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries


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


def _output_files(client: Any, output_directory: str | None) -> list[tuple[Any, str]]:
    """The ``*.jsonl`` blobs under the output folder, with their URIs (a Cloud Storage error as
    a typed error naming the folder)."""
    if not output_directory:
        return []
    folder = output_directory.rstrip("/") + "/"
    try:
        blobs = list(list_objects(client, folder, suffix=".jsonl"))
    except VertexMMError:
        raise
    except Exception as exc:
        raise _storage_error(exc, folder, "listing") from exc
    bucket = split_gs_uri(folder)[0]
    return [(b, f"gs://{bucket}/{b.name}") for b in blobs]


def _blob_lines(blob: Any, uri: str) -> Iterator[bytes]:
    """The lines of one output file; only the reading is guarded (an error of the caller, such
    as writing the journal, is not a storage error)."""
    try:
        with blob.open("rb") as f:
            yield from _lines(f)
    except VertexMMError:
        raise
    except Exception as exc:
        raise _storage_error(exc, uri, "reading") from exc


def _storage_error(exc: Exception, uri: str, what: str) -> VertexMMError:
    mapped = storage_error(exc, uri, what=what)
    if mapped is None:
        raise exc
    return mapped


def collect_outputs(client: Any, output_directory: str | None, state: JobState, *, journal: Journal,
                    errors: ErrorSet, missing_reason: str) -> Collected:
    """Write every output row of the job into ``journal`` / ``errors``; inputs of ``state``
    with no row get a :class:`NotRunError` saying ``missing_reason``."""
    found = Collected()
    seen: set[str] = set()  # keys with a row
    embedded: set[str] = set()  # keys with a vector

    def fail(key: str, error: BaseException) -> None:
        item_id = state.item_id(key)
        errors.add(item_id, error)
        found.failed += 1
        if len(found.first_errors) < FIRST_ERRORS:
            found.first_errors.append(f"{item_id}: {type(error).__name__}: {error}")

    for blob, uri in _output_files(client, output_directory):
        for raw in _blob_lines(blob, uri):
            if not raw.strip():
                continue
            try:
                key, values, status = parse_batch_output_line(json.loads(raw))
            except ValueError:
                found.unknown_rows += 1
                continue
            problem = None
            if status is not None or values is None:
                problem = row_error(key, status or "no embedding")
            elif len(values) != state.dimension:
                problem = APIError(f"{key}: asked for {state.dimension} dimensions, the job returned {len(values)}")
            elif (bad := embedding_problem(values)) is not None:  # never journalled: no index could use it
                problem = APIError(f"{key}: the vector the job returned {bad}")
            # A key seen before is a row delivered twice: ignored, unless it is the vector of a
            # key that so far only had an error (the finished, billed vector is kept).
            if key not in state.items or key in embedded or (key in seen and problem is not None):
                found.unknown_rows += 1
                continue
            if key in seen:
                found.unknown_rows += 1
                found.failed -= 1
                found.first_errors = [e for e in found.first_errors if not e.startswith(f"{state.item_id(key)}: ")]
            seen.add(key)
            if problem is not None:
                fail(key, problem)
                continue
            assert values is not None
            journal.write({"id": state.item_id(key), "content_hash": state.items[key], "space": state.space,
                           "embedding": _unit(values)})
            errors.discard(state.item_id(key))
            embedded.add(key)
            found.embedded += 1
    for key in state.items.keys() - seen:
        found.missing += 1
        fail(key, NotRunError(f"{key}: {missing_reason}"))
    return found
