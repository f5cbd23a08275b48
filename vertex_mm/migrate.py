"""Moving an index off multimodalembedding@001: re-embed every item into a new space.

``multimodalembedding@001`` retires on 2027-04-01 (new access is blocked a month before);
vectors of two models never mix, so an index built with it has to be embedded again, item by
item, from its source images, by the successor (gemini-embedding-2), into a new index:

>>> report = migrate_index("photos.idx", "photos-g2.idx", get_embedder("gemini", project="p"),
...                        dimension=768, task="retrieval_document")          # doctest: +SKIP

* What it reads: an index folder, or the JSONL or Parquet output of ``vertex-mm embed``.
* Where the items come from: each row's ``metadata["path"]`` when that file exists (what
  ``vertex-mm index`` stores), else its id when that is a ``gs://`` URI (or its
  ``https://storage.googleapis.com/`` URL), else ``root / id``; a text item (metadata
  ``text``, no ``path``) is embedded again from its text. An item whose source cannot be found
  is reported, not guessed; every failed or source-less item is listed in ``NEW.errors.jsonl``.
* An image in a format the target model does not take (GIF for gemini-embedding-2) but that
  Pillow decodes is sent re-encoded as PNG (lossless; an animation's first frame).
* Where it writes: never over the source, nor over an index or file that is not this
  migration's own output (:class:`~vertex_mm.errors.OutputPathError` before anything is sent).
* Resumable at the quota: results go to an append-only journal beside the new index
  (``NEW.journal.jsonl``) as they arrive, through the embedder's batch engine (rate limit,
  retries); run the same command again after a crash or Ctrl-C and only what is missing is
  embedded. An item counts as done only for the content it was embedded from (a file's size
  and first 64 KiB, a text item's text, a ``gs://`` item's URI): a moved or copied source is
  not embedded again, an edited file is, and so is another source's file under the same id.
  The new index is written (atomically) from the journal at the end, streamed into one float32
  array (~4 bytes a dimension an item); no index is written when nothing has a vector. The
  journal records its space (model, dimension, task): a resume in another space is refused
  (:class:`~vertex_mm.jobs.JournalSpaceError`), so the index's label is always true.
* Spaces never mix: the new index is created in the new embedder's space (recording the
  task) and refuses anything else; the old one is only read.
* How much the results move: with queries, each is searched in the old index (embedded by
  the old model) and in the new one (with the ``retrieval_query`` task for gemini), and the
  overlap of the two top-k lists is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._migrate_io import build_index, check_out, load_source_image
from .batch.interrupt import BatchInterrupted, NotRunError
from .embedder import BaseEmbedder
from .errors import APIError, InputError, InputNotFoundError, InvalidDimensionError, OutputPathError, VertexMMError
from .media import _normalise_location
from .results import EmbeddingSpace
from .wire import EmbedRequest

__all__ = ["MigrationReport", "QueryOverlap", "migrate_index", "query_overlap", "read_queries", "source_items"]


@dataclass
class MigrationReport:
    """What one run of a migration did."""

    index: pathlib.Path
    journal: pathlib.Path
    space: str = ""
    items: int = 0
    embedded: int = 0
    already_done: int = 0
    missing_source: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: Ids of ``failed`` that another run may get past (a quota, an outage, a dropped connection).
    retryable: set[str] = field(default_factory=set)
    #: Images sent re-encoded as PNG, by the format the target model does not take (GIF: 3).
    converted: dict[str, int] = field(default_factory=dict)
    #: Where every failed and source-less item is listed (``NEW.errors.jsonl``); None: none were.
    errors_file: pathlib.Path | None = None
    written: bool = False  # whether the new index was written (not when no item has a vector)
    interrupted: bool = False
    interrupted_writing: bool = False  # stopped while the index was being written from the journal

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
        text = f"{self.items} items: " + ", ".join(parts)
        if self.converted:
            kinds = ", ".join(f"{n} {fmt}" for fmt, n in sorted(self.converted.items()))
            text += f"; {sum(self.converted.values())} images sent re-encoded as PNG ({kinds}: formats the " \
                    "target model does not take)"
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
        return text + self._failures_note()

    def _failures_note(self) -> str:
        """What to do about the failures: running again helps only the retryable ones."""
        note = ""
        bad = len(self.failed) - len(self.retryable)
        if self.retryable:
            other = " other" if bad else ""
            note += f"; run the same command again to retry the{other} {len(self.retryable)} failed for a " \
                    "quota or an outage"
        if bad:
            note += f"; {bad} failed for their input, which fail again on every run: fix or remove them"
        if self.errors_file is not None:
            note += f"; all listed in {self.errors_file}"
        return note


@dataclass(frozen=True)
class _Item:
    id: str
    location: str | None
    metadata: dict[str, Any]
    text: str | None = None  # a text item (@001 indexes keep its text in metadata "text")


def _read_old(source: pathlib.Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, metadata) of every item of an index directory, or of a JSONL or Parquet file of
    embeddings (``vertex-mm embed``'s output; Parquet rows carry no metadata)."""
    if source.is_dir():
        from .index import BaseIndex

        index = BaseIndex.load(source)  # a vector index (flat or FAISS); page indexes are refused
        for ids, _, metas in index.iter_rows():
            yield from zip(ids, (dict(m) for m in metas))
        return
    if not source.is_file():
        raise InputError(f"{source}: no such index folder, JSONL or Parquet file", input_name=str(source))
    with source.open("rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":  # `vertex-mm embed --out X.parquet`
        yield from ((item_id, {}) for item_id in _parquet_ids(source))
        return
    with source.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{source}:{n}: not UTF-8 text; expected an index folder, a JSONL or a Parquet "
                                 "file of embeddings (what `vertex-mm index` / `vertex-mm embed` write)",
                                 input_name=str(source)) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                item_id = record["id"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{source}:{n}: not a JSON record with an id ({exc})", input_name=str(source)) from exc
            if not isinstance(item_id, str):
                raise InputError(f"{source}:{n}: id must be a string", input_name=str(source))
            meta = record.get("metadata")
            yield item_id, dict(meta) if isinstance(meta, dict) else {}


def _parquet_ids(source: pathlib.Path) -> Iterator[str]:
    """The ``id`` column of a Parquet file of embeddings (``vertex-mm embed``'s columns)."""
    from ._optional import require

    pq = require("parquet", "pyarrow.parquet", what="reading a Parquet file of embeddings")
    try:
        parquet = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
        raise InputError(f"{source}: not a readable Parquet file ({exc})", input_name=str(source)) from exc
    if "id" not in parquet.schema_arrow.names:
        raise InputError(f"{source}: a Parquet file without an 'id' column; expected vertex-mm embed's output "
                         "(columns id, content_hash, space, embedding)", input_name=str(source))
    row = 0
    for batch in parquet.iter_batches(columns=["id"]):
        for item_id in batch.column(0).to_pylist():
            row += 1
            if not isinstance(item_id, str):
                raise InputError(f"{source}: row {row}: id must be a string, got {item_id!r}", input_name=str(source))
            yield item_id


def source_items(source: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[_Item]:
    """The items to re-embed, each with where its image is, or its text (a text item of an
    @001 index: metadata ``text``, no ``path``); neither when its source cannot be found."""
    base = pathlib.Path(root).expanduser() if root is not None else None
    items = []
    for item_id, meta in _read_old(pathlib.Path(source).expanduser()):
        path = meta.get("path")
        text = meta.get("text")
        location: str | None = None
        if isinstance(path, str) and os.path.isfile(path):
            location = path
        elif _is_gcs(item_id):
            location = _normalise_location(item_id, "image")  # https://storage.googleapis.com/B/O -> gs://B/O
        elif base is not None and (base / item_id).is_file():
            location = str(base / item_id)
        elif path is None and isinstance(text, str) and text.strip():
            items.append(_Item(item_id, None, meta, text))
            continue
        items.append(_Item(item_id, location, meta))
    return items


def _is_gcs(item_id: str) -> bool:
    parts = urllib.parse.urlsplit(item_id)
    return parts.scheme == "gs" or (parts.scheme.lower() == "https" and parts.netloc == "storage.googleapis.com")


def migrate_index(source: str | os.PathLike[str], out: str | os.PathLike[str], embedder: BaseEmbedder, *,
                  dimension: int | None = None, task: str | None = None, root: str | os.PathLike[str] | None = None,
                  kind: str = "flat", progress: bool = False) -> MigrationReport:
    """Re-embed every item of ``source`` (an index folder or a JSONL of embeddings) with
    ``embedder`` into a new index at ``out``; resumable (see the module docstring).

    Raises :class:`~vertex_mm.errors.OutputPathError` before anything is sent when ``out`` is
    the source, or exists and is not this migration's output (no journal beside it)."""
    from .jobs import Journal
    from .jobs.writer import error_entry, write_errors

    out_path = pathlib.Path(out).expanduser()
    if out_path.name in ("", ".", ".."):  # "." or "/": no name to put the journal beside
        out_path = out_path.resolve()
        if not out_path.name:
            raise OutputPathError(f"--out {out}: name a new index folder, not the file-system root", input_name=str(out))
    journal_path = out_path.with_name(out_path.name + ".journal.jsonl")
    check_out(pathlib.Path(source).expanduser(), out_path, journal_path)
    space = embedder.content_space(_default_dimension(embedder, dimension, task, journal_path), task=task)
    report = MigrationReport(out_path, journal_path, space=space.id)
    items = source_items(source, root)
    report.items = len(items)
    report.missing_source = [i.id for i in items if i.location is None and i.text is None]
    limits = embedder.content_limits
    formats = limits.image_formats if limits is not None else None
    max_pixels = limits.max_image_pixels if limits is not None else None
    entries = [error_entry(i, InputNotFoundError(f"no source file for {i} (pass --root DIR, the folder its "
                                                 "id is a path in)", input_name=i)) for i in report.missing_source]
    counting = threading.Lock()
    with Journal(journal_path, space=space.id) as journal:
        keys = {i.id: _hash(i) for i in items if (i.location or i.text) is not None}
        todo = [i for i in items if i.id in keys and not (journal.is_done(i.id, keys[i.id])
                                                          or journal.is_done(i.id, _legacy_hash(i)))]
        report.already_done = report.items - len(report.missing_source) - len(todo)

        def build(item: _Item) -> EmbedRequest:
            content: Any = item.text
            if item.location is not None:
                content, converted = load_source_image(item.location, formats, max_pixels)
                if converted is not None:
                    with counting:  # build runs in the batch's worker threads
                        report.converted[converted] = report.converted.get(converted, 0) + 1
            return embedder.build_content_request(content, dimension=space.dimension, task=task, key=item.id)

        def on_result(index: int, item: _Item, result: Any) -> None:
            if isinstance(result, NotRunError):
                return
            if isinstance(result, VertexMMError):
                report.failed[item.id] = f"{type(result).__name__}: {result}"
                entries.append(error_entry(item.id, result))
                if getattr(result, "retryable", False):
                    report.retryable.add(item.id)
                return
            vector = result.content_embedding or result.image_embedding
            if vector is None or len(vector) != space.dimension or not np.isfinite(vector).all():
                # Never journalled: the index would drop it silently while the run said complete.
                bad = APIError(f"{item.id}: the service answered a vector of {0 if vector is None else len(vector)} "
                               f"values, not {space.dimension} finite ones")
                report.failed[item.id] = f"{type(bad).__name__}: {bad}"
                entries.append(error_entry(item.id, bad))
                return
            journal.write({"id": item.id, "content_hash": keys[item.id], "space": space.id, "embedding": vector})
            report.embedded += 1

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
        index, rows = build_index([i.id for i in items], [i.metadata for i in items], journal_path, space, kind)
        if rows:
            index.save(out_path)
            report.written = True
    except KeyboardInterrupt:  # the save is atomic: the journal holds everything
        report.interrupted = report.interrupted_writing = True
    return report


def _default_dimension(embedder: BaseEmbedder, dimension: int | None, task: str | None,
                       journal: pathlib.Path) -> int | None:
    """The new index's dimension when ``dimension`` is not given: the one the journal of an
    earlier run of this migration recorded (a rerun resumes in its space, whatever an earlier
    release chose as its default), else, without a task, the dimension plain text queries are
    embedded at (the local and vertex backends: 1408, where the content path's default is
    3072), else the content path's default. Any dimension the content path takes is accepted:
    ``vertex-mm search`` embeds queries for such an index through the content path too
    (:func:`~vertex_mm.index.build.embed_query`)."""
    if dimension is not None:
        return dimension
    recorded = _journal_dimension(journal)
    if recorded is not None:
        return recorded
    if task is None:
        try:
            return embedder.space(None).dimension
        except InvalidDimensionError:  # a backend whose text path has no default of its own
            return None
    return None


def _journal_dimension(journal: pathlib.Path) -> int | None:
    """The dimension of the first record of ``journal`` that names its space, or None."""
    from .jobs import read_journal

    if not journal.exists():
        return None
    for record in read_journal(journal):
        space = record.get("space")
        if isinstance(space, str) and space:
            return EmbeddingSpace.from_id(space).dimension
    return None


#: How much of a source file its journal key reads: enough to tell two photos (or an edited one)
#: apart without reading 100,000 whole files on every resume.
_FINGERPRINT_BYTES = 1 << 16


def _hash(item: _Item) -> str:
    """The journal's key for what an item's vector was made from: a local file by its size and
    the SHA-256 of its first 64 KiB (so a moved or copied file is the same item, while another
    source's file under the same id, or an edited one, is embedded again), a text item by its
    text, a ``gs://`` item by its URI. A file that cannot be read keys as :func:`_legacy_hash`
    (reading it for the request then fails with its own error)."""
    if item.location is None:
        if item.text is not None:
            return "migrated:text:" + hashlib.sha256(item.text.encode("utf-8")).hexdigest()[:32]
        return _legacy_hash(item)
    if item.location.startswith("gs://"):
        return _legacy_hash(item)
    try:
        with open(item.location, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_FINGERPRINT_BYTES)
    except OSError:
        return _legacy_hash(item)
    return f"migrated:file:{size}:{hashlib.sha256(head).hexdigest()[:32]}"


def _legacy_hash(item: _Item) -> str:
    # The key of every record before content keys (and still of gs:// items): the id alone.
    # A journal written then keeps its records: they count as done by id, as they did.
    return f"migrated:{item.id}"


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
                  new_embedder: BaseEmbedder, *, k: int = 10,
                  new_task: str | None = "retrieval_query") -> list[QueryOverlap]:
    """Each query's top-k in the old index (old model) and in the new one (new model)."""
    old_q = old_embedder.embed_texts(list(queries), dimension=old_index.space.dimension)
    new_task = new_task if new_embedder.content_limits is not None else None
    new_q = new_embedder.embed_contents(list(queries), dimension=new_index.space.dimension, task=new_task)
    old_hits = old_index.search(old_q, k=k)
    new_hits = new_index.search(new_q, k=k)
    return [QueryOverlap(q, [h.id for h in a], [h.id for h in b]) for q, a, b in zip(queries, old_hits, new_hits)]


def read_queries(path: str | os.PathLike[str]) -> list[str]:
    """Queries from a text file (one per line) or JSONL (``{"text": ...}`` or ``{"query": ...}``)."""
    out: list[str] = []
    for n, line in enumerate(pathlib.Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                record = json.loads(line)
                out.append(str(record.get("text") or record["query"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{n}: expected {{\"text\": ...}} ({exc})", input_name=str(path)) from exc
        else:
            out.append(line)
    return out

