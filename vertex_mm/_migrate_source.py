"""What a migration reads: the old index's items, where each one's source is, and the key its
vector is journalled under (:mod:`vertex_mm.migrate` runs the migration)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError, VertexMMError
from .media import _normalise_location

__all__ = ["UNREADABLE", "Item", "Pending", "bytes_key", "item_key", "legacy_key", "pending", "source_items"]


@dataclass(frozen=True)
class Item:
    """One item of the old index: its id, where its source is (a local path or a ``gs://`` URI;
    None when it cannot be found), its metadata, its text for a text item, and what is wrong
    with it when it cannot be migrated as it is (it then fails alone, before anything is sent)."""

    id: str
    location: str | None
    metadata: dict[str, Any]
    text: str | None = None  # a text item (@001 indexes keep its text in metadata "text")
    problem: VertexMMError | None = field(default=None, compare=False)

    @property
    def found(self) -> bool:
        """Whether the item has a source, or a problem to report: not "without a source"."""
        return self.problem is not None or self.location is not None or self.text is not None


#: (id, metadata, what is wrong with the row or None) of one item of the old index.
_Row = tuple[str, dict[str, Any], VertexMMError | None]


def _read_old(source: pathlib.Path) -> Iterator[_Row]:
    """Every item of an index directory, or of a JSONL or Parquet file of embeddings
    (``vertex-mm embed``'s output; Parquet rows carry no metadata). In a file, an id may
    appear more than once, as ``vertex-mm embed`` appends a changed file's new line: the last
    line of an id wins, as every reader of that output takes it."""
    if source.is_dir():
        from .index import BaseIndex

        index = BaseIndex.load(source)  # a vector index (flat or FAISS); page indexes are refused
        for ids, _, metas in index.iter_rows():
            yield from ((item_id, dict(m), None) for item_id, m in zip(ids, metas))
        return
    if not source.is_file():
        raise InputError(f"{source}: no such index folder, JSONL or Parquet file", input_name=str(source))
    with source.open("rb") as f:
        magic = f.read(4)
    if magic == b"PAR1":  # `vertex-mm embed --out X.parquet`
        yield from _last_wins((item_id, {}, None) for item_id in _parquet_ids(source))
    else:
        yield from _last_wins(_jsonl_rows(source))


def _last_wins(rows: Iterable[_Row]) -> Iterator[_Row]:
    """One row per id, its last, where its last line is (as a compacted output orders it).
    Ids and metadata only, no vectors: small next to the journal the run writes."""
    latest: dict[str, _Row] = {}
    for row in rows:
        latest.pop(row[0], None)
        latest[row[0]] = row
    yield from latest.values()


def _jsonl_rows(source: pathlib.Path) -> Iterator[_Row]:
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
            if not isinstance(item_id, str) or not item_id:
                # An empty id was embedded (and paid for), then refused by the index at the end, every run.
                raise InputError(f"{source}:{n}: id must be a non-empty string, got {item_id!r}", input_name=str(source))
            meta = record.get("metadata")
            meta = dict(meta) if isinstance(meta, dict) else {}
            yield item_id, meta, _metadata_problem(source, n, item_id, meta)


def _metadata_problem(source: pathlib.Path, n: int, item_id: str, meta: dict[str, Any]) -> VertexMMError | None:
    """Why the new index would refuse ``meta`` (its own check: strict JSON, so no NaN or
    Infinity, which ``json.loads`` reads), found here so that the item fails alone before it
    is embedded and paid for, not the whole index after every item was."""
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return InputError(f"{source}:{n}: the metadata of id {item_id!r} is not valid JSON for the new index ({exc}): "
                          "fix that line (e.g. null for NaN)", input_name=item_id)
    return None


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
            if not isinstance(item_id, str) or not item_id:
                raise InputError(f"{source}: row {row}: id must be a non-empty string, got {item_id!r}",
                                 input_name=str(source))
            yield item_id


def source_items(source: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[Item]:
    """The items to re-embed, each with where its source is, or its text (a text item of an
    @001 index: metadata ``text``, no ``path``); neither when its source cannot be found.

    Where: the ``path`` the index recorded, a ``gs://`` id (or its storage URL), ``root / id``,
    or the id itself when it is an absolute path (``vertex-mm embed LIST``'s ids). An id that
    is a storage URL no ``gs://`` URI can name, or a JSONL line whose metadata the new index
    would refuse, is an item with a :attr:`Item.problem`: it fails alone, the rest migrate."""
    base = pathlib.Path(root).expanduser() if root is not None else None
    items = []
    seen: set[str] = set()
    for item_id, meta, problem in _read_old(pathlib.Path(source).expanduser()):
        if item_id in seen:  # an index holding one id twice: each vector could end up under the other's name
            raise InputError(f"{source}: the id {item_id!r} appears more than once; an id must name one item "
                             "(remove or rename the duplicates)", input_name=str(source))
        seen.add(item_id)
        path = meta.get("path")
        text = meta.get("text")
        location: str | None = None
        if problem is not None:
            pass
        elif isinstance(path, str) and os.path.isfile(path):
            location = path
        elif _is_gcs(item_id):
            try:
                location = _normalise_location(item_id, "image")  # https://storage.googleapis.com/B/O -> gs://B/O
            except VertexMMError as exc:  # a generation-pinned URL: that item's error, not the run's
                problem = exc
        elif base is not None and (base / item_id).is_file():
            location = str(base / item_id)
        elif os.path.isabs(own := os.path.expanduser(item_id)) and _is_local_file(own):
            location = own  # `vertex-mm embed LIST.txt` keys each file by its line: an absolute path needs no root
        elif path is None and isinstance(text, str) and text.strip():
            items.append(Item(item_id, None, meta, text))
            continue
        items.append(Item(item_id, location, meta, problem=problem))
    return items


def _is_local_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):  # a name with a NUL byte, or too long: not a file
        return False


def _is_gcs(item_id: str) -> bool:
    parts = urllib.parse.urlsplit(item_id)
    return parts.scheme == "gs" or (parts.scheme.lower() == "https" and parts.netloc == "storage.googleapis.com")


#: What a file's journal key reads: its size, its first and last 64 KiB and 16 blocks of 4 KiB
#: spread between them (the whole file when it is smaller than that). Enough to tell two photos,
#: or an edited one, apart (a compressed image changes throughout; an uncompressed scan's top
#: rows are at the end of a BMP) without reading 100,000 whole files on every resume.
_HEAD = _TAIL = 1 << 16
_BLOCK, _BLOCKS = 1 << 12, 16


def _ranges(size: int) -> list[tuple[int, int]]:
    if size <= _HEAD + _TAIL + _BLOCK * _BLOCKS:
        return [(0, size)]
    middle = [(size * i // (_BLOCKS + 1), _BLOCK) for i in range(1, _BLOCKS + 1)]
    return [(0, _HEAD), *middle, (size - _TAIL, _TAIL)]


def _key_of(size: int, read: Callable[[int, int], bytes]) -> str:
    digest = hashlib.sha256(str(size).encode())
    for offset, length in _ranges(size):
        digest.update(read(offset, length))
    return f"migrated:file:{size}:{digest.hexdigest()[:32]}"


def bytes_key(data: bytes) -> str:
    """The journal key of a file whose bytes are ``data`` (what :func:`item_key` reads of it)."""
    view = memoryview(data)
    return _key_of(len(data), lambda offset, length: bytes(view[offset : offset + length]))


#: The key of a file that could not be read: matches no record, so the item is tried again.
UNREADABLE = "migrated:unreadable"


def item_key(item: Item) -> str:
    """The journal's key for what an item's vector is made from: a local file by a sample of its
    bytes (:func:`bytes_key`; a moved or copied file is the same item, another source's file
    under the same id, or an edited one, is not), a text item by its text, a ``gs://`` item by
    its URI (its id). A file that cannot be read now, or an item with a problem, keys as
    :data:`UNREADABLE`."""
    if item.problem is not None:
        return UNREADABLE
    if item.location is None:
        if item.text is not None:
            return "migrated:text:" + hashlib.sha256(item.text.encode("utf-8")).hexdigest()[:32]
        return legacy_key(item)
    if item.location.startswith("gs://"):
        return legacy_key(item)
    try:
        with open(item.location, "rb") as f:
            size = os.fstat(f.fileno()).st_size

            def read(offset: int, length: int) -> bytes:
                f.seek(offset)
                return f.read(length)

            return _key_of(size, read)
    except OSError:
        return UNREADABLE


def legacy_key(item: Item) -> str:
    """The key of every record written before content keys (and still of ``gs://`` items): the
    id alone. A journal written then keeps its records: they count as done by id, as they did."""
    return f"migrated:{item.id}"


@dataclass
class Pending:
    """What the journal does not hold yet, and each item's key."""

    keys: dict[str, str]
    todo: list[Item]
    #: items counted as done by id alone, from records written before content keys
    by_id_only: int


def pending(items: Sequence[Item], is_done: Callable[[str, str], bool]) -> Pending:
    """Each item's journal key (items with a source), and the items the journal does not hold
    (``is_done(id, key)``; a record written before content keys counts by id)."""
    sourced = [i for i in items if i.found]
    # A few reads of every file: threads overlap their waits (100,000 photos on a network disk).
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="vertex-mm-keys") as pool:
        keys = dict(zip((i.id for i in sourced), pool.map(item_key, sourced), strict=True))
    todo, by_id = [], 0
    for item in items:
        if item.problem is not None:  # fails again, alone, before it is sent: never taken from the journal
            todo.append(item)
            continue
        if item.id not in keys or is_done(item.id, keys[item.id]):
            continue
        if keys[item.id] != legacy_key(item) and is_done(item.id, legacy_key(item)):
            by_id += 1
            continue
        todo.append(item)
    return Pending(keys, todo, by_id)
