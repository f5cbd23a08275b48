"""What a migration reads: the old index's items, where each one's source is, and the key its
vector is journalled under (:mod:`vertex_mm.migrate` runs the migration)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .media import _normalise_location

__all__ = ["Item", "pending", "source_items"]


@dataclass(frozen=True)
class Item:
    """One item of the old index: its id, where its image is (a local path or a ``gs://`` URI;
    None when it cannot be found), its metadata, and its text for a text item."""

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


def source_items(source: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[Item]:
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
            items.append(Item(item_id, None, meta, text))
            continue
        items.append(Item(item_id, location, meta))
    return items


def _is_gcs(item_id: str) -> bool:
    parts = urllib.parse.urlsplit(item_id)
    return parts.scheme == "gs" or (parts.scheme.lower() == "https" and parts.netloc == "storage.googleapis.com")


#: How much of a source file its journal key reads: enough to tell two photos (or an edited one)
#: apart without reading 100,000 whole files on every resume.
_FINGERPRINT_BYTES = 1 << 16


def _hash(item: Item) -> str:
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


def _legacy_hash(item: Item) -> str:
    # The key of every record before content keys (and still of gs:// items): the id alone.
    # A journal written then keeps its records: they count as done by id, as they did.
    return f"migrated:{item.id}"


def pending(items: Sequence[Item], is_done: Callable[[str, str], bool]) -> tuple[dict[str, str], list[Item]]:
    """Each item's journal key (items with a source), and the items the journal does not hold
    (``is_done(id, key)``; a record written before content keys counts by id)."""
    keys = {i.id: _hash(i) for i in items if (i.location or i.text) is not None}
    todo = [i for i in items if i.id in keys and not (is_done(i.id, keys[i.id]) or is_done(i.id, _legacy_hash(i)))]
    return keys, todo
