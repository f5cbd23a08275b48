"""Vertex AI Vector Search 2.0: an index's vectors and metadata as data objects of a collection
(needs ``vertex-mm[vectorsearch]``, Google's ``google-cloud-vectorsearch`` client, for the calls;
the JSON needs nothing). The 1.0 batch and streaming exports (:mod:`.vector_search`) are apart.

Vector Search 2.0 keeps *collections* of *data objects*: each object has an id, a ``data`` JSON
object (filterable fields, checked against the collection's JSON Schema) and named
``vectors``. Here each index row becomes one object::

    {"data": {"source_id": "cat.jpg", "embedding_space": "vertex/...", "tag": "pet", ...},
     "vectors": {"embedding": {"dense": {"values": [0.01, ...]}}}}

under a data object id that follows RFC 1035 as the service requires
(``[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?``): :func:`data_object_id` keeps an id that already
complies and otherwise derives one (lower-cased, other characters as ``-``, plus a hash of the
original); ``data.source_id`` keeps the original id.

Two ways in::

    from google.cloud import vectorsearch_v1
    vs = vectorsearch_v1.VectorSearchServiceClient()
    create_collection(vs, "projects/P/locations/us-central1", "photos", index)    # waits for the LRO
    objects = vectorsearch_v1.DataObjectServiceClient()
    upsert_data_objects(objects, index, "projects/P/locations/us-central1/collections/photos")

or files for ``collections.importDataObjects`` (``gcsImport.contentsUri``)::

    export_data_objects(index, "objects/")      # objects/data-objects-00000-of-00001.jsonl ...
    # gcloud storage cp -r objects gs://BUCKET/photos-objects

Upsert: Vector Search 2.0 has create and update but no upsert call, so
:func:`upsert_data_objects` sends ``dataObjects:batchCreate`` (at most 1,000 objects a
request, the documented limit) and, for a batch refused with ALREADY_EXISTS, creates its
objects one by one and replaces those that exist with ``UpdateDataObject`` (no update mask:
the whole object is replaced).

Shapes checked against Google's documentation (REST reference and guides):

* DataObject (``data``, ``vectors`` map of ``{"dense": {"values": [...]}}``, id rules):
  https://docs.cloud.google.com/vertex-ai/docs/vectorsearch/reference/rest/v1/projects.locations.collections.dataObjects
* batchCreate (``{"requests": [{"parent", "dataObjectId", "dataObject"}]}``, 1,000 a batch):
  https://docs.cloud.google.com/vertex-ai/docs/vectorsearch/reference/rest/v1/projects.locations.collections.dataObjects/batchCreate
* batchUpdate / UpdateDataObjectRequest (``dataObject`` with its ``name``, ``updateMask``):
  https://docs.cloud.google.com/vertex-ai/docs/vectorsearch/reference/rest/v1/projects.locations.collections.dataObjects/batchUpdate
* importDataObjects (``gcsImport.contentsUri`` / ``errorUri``):
  https://docs.cloud.google.com/vertex-ai/docs/vectorsearch/reference/rest/v1beta/projects.locations.collections/importDataObjects
* collections, ``vectorSchema`` (``{"denseVector": {"dimensions": N}}``) and ``dataSchema``
  (JSON Schema draft 7; field names of letters, digits, ``_`` and ``-``; ``additionalProperties``
  is always taken as false, so :func:`collection_body` lists every metadata key the index holds,
  and rows with keys added later need the collection's schema updated first):
  https://docs.cloud.google.com/gemini-enterprise-agent-platform/build/vector-search-2/collections/collections
  and https://docs.cloud.google.com/sdk/gcloud/reference/vector-search/collections/create
* data objects guide (create, import, update; the import line format with a top-level ``id``
  beside ``data`` and ``vectors``):
  https://docs.cloud.google.com/vertex-ai/docs/vector-search-2/data-objects/data-objects

Tested with google-cloud-vectorsearch 0.11.5 (``vectorsearch_v1``) over its REST transport
against a local stand-in server; no Google endpoint was called.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._optional import require
from ...errors import InputError
from ..base import BaseIndex
from ._output import check_row_text, new_folder, utf8_text

__all__ = [
    "MAX_BATCH",
    "UpsertReport",
    "collection_body",
    "create_collection",
    "data_object_id",
    "export_data_objects",
    "iter_data_objects",
    "to_data_object",
    "upsert_data_objects",
]

MAX_BATCH = 1000  # data objects per batchCreate / batchUpdate request (documented limit)
VECTOR_FIELD = "embedding"
ID_KEY, SPACE_KEY = "source_id", "embedding_space"
DEFAULT_SHARD_ROWS = 100_000
_OBJECT_ID = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]+")
_COLLECTION = re.compile(r"projects/[^/]+/locations/[^/]+/collections/[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")


def data_object_id(id_: str) -> str:
    """A Vector Search 2.0 data object id for ``id_``: itself when it is already RFC 1035
    (``[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?``), else a readable stem plus 12 hex digits of its
    SHA-256 (so distinct ids stay distinct)."""
    utf8_text(id_, f"id {id_!r}", "Vector Search 2.0")
    if _OBJECT_ID.fullmatch(id_):
        return id_
    stem = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", id_.lower())).strip("-")
    if not stem or not stem[0].isalpha():
        stem = f"o-{stem}".rstrip("-")
    return f"{stem[:50].rstrip('-')}-{hashlib.sha256(id_.encode('utf-8')).hexdigest()[:12]}"


def to_data_object(id_: str, vector: np.ndarray, metadata: Mapping[str, Any], *, space: str,
                   vector_field: str = VECTOR_FIELD) -> dict[str, Any]:
    """One row as a DataObject in its REST JSON shape (``data`` and ``vectors``)."""
    _check_field(vector_field, "vector_field")
    for key in metadata:
        if key in (ID_KEY, SPACE_KEY):
            raise InputError(f"metadata of {id_!r} has the key {key!r}, which the Vector Search 2.0 export "
                             "fills itself (the original id and the embedding space)", input_name="metadata")
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    if not np.isfinite(values).all():
        raise InputError(f"the vector of {id_!r} has NaN or infinite values", input_name="vector")
    check_row_text(id_, metadata, "Vector Search 2.0")
    # A None value is left out, as a property the object does not have: collection_body's schema
    # types each key by its other values, and its validator refused null where it said "string".
    data = {key: value for key, value in metadata.items() if value is not None}
    return {"data": {**data, ID_KEY: id_, SPACE_KEY: space},
            "vectors": {vector_field: {"dense": {"values": [float(x) for x in values]}}}}


def iter_data_objects(index: BaseIndex, *, ids: Sequence[str] | None = None, vector_field: str = VECTOR_FIELD,
                      batch_size: int = 1024) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(data_object_id, data_object)`` for every row (or for ``ids``), in row order. Raises
    :class:`InputError` when two ids map to one data object id."""
    seen: dict[str, str] = {}
    space = index.space.id
    if ids is None:
        rows: Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]] = index.iter_rows(batch_size)
    else:
        rows = iter([(list(ids), np.stack([np.asarray(index.vector(i))[0] for i in ids]) if ids else np.zeros((0, 0)),
                      [index.metadata(i) for i in ids])])
    for chunk_ids, vecs, metas in rows:
        for id_, vec, meta in zip(chunk_ids, vecs, metas):
            oid = data_object_id(id_)
            if seen.setdefault(oid, id_) != id_:
                raise InputError(f"ids {seen[oid]!r} and {id_!r} both become data object id {oid!r}", input_name="ids")
            yield oid, to_data_object(id_, vec, meta, space=space, vector_field=vector_field)


def collection_body(index: BaseIndex, *, vector_field: str = VECTOR_FIELD, display_name: str | None = None,
                    description: str = "") -> dict[str, Any]:
    """The Collection JSON for ``index``: a dense ``vector_field`` of the index's dimension and a
    JSON Schema of the data fields, typed from the metadata values (a key whose values mix
    types is left untyped)."""
    _check_field(vector_field, "vector_field")
    kinds: dict[str, set[str]] = {}
    for _, _, metas in index.iter_rows():
        for meta in metas:
            for key, value in meta.items():
                _check_field(key, "metadata")
                kinds.setdefault(key, set()).add(_json_type(value))
    properties: dict[str, Any] = {ID_KEY: {"type": "string"}, SPACE_KEY: {"type": "string"}}
    for key, types in kinds.items():
        types.discard("null")
        if types == {"integer", "number"}:
            types = {"number"}
        if len(types) == 1:
            (kind,) = types
            properties[key] = {"type": "array", "items": {"type": "string"}} if kind == "strings" else \
                ({} if kind == "other" else {"type": kind})
        else:
            properties[key] = {}
    body: dict[str, Any] = {
        "displayName": display_name or f"vertex-mm {index.space.id}",
        "vectorSchema": {vector_field: {"denseVector": {"dimensions": index.dimension}}},
        "dataSchema": {"type": "object", "properties": properties},
    }
    if description:
        body["description"] = description
    return body


def export_data_objects(index: BaseIndex, folder: str | os.PathLike[str], *, vector_field: str = VECTOR_FIELD,
                        shard_rows: int = DEFAULT_SHARD_ROWS) -> list[Path]:
    """Write every row as ``importDataObjects`` input: JSON Lines of ``{"id", "data", "vectors"}``
    in files of at most ``shard_rows`` lines. The folder must be new or empty (the import reads
    every file under its prefix). Returns the files written."""
    root = Path(folder)
    if shard_rows < 1:
        raise InputError(f"shard_rows must be >= 1, got {shard_rows}", input_name="shard_rows")
    n_files = max(1, math.ceil(len(index) / shard_rows))
    names = [f"data-objects-{f:05d}-of-{n_files:05d}.jsonl" for f in range(n_files)]
    with new_folder(root, "importDataObjects would read every file in it") as tmp:
        out = open(tmp / names[0], "w", encoding="utf-8")
        try:
            for n, (oid, obj) in enumerate(iter_data_objects(index, vector_field=vector_field)):
                if n and n % shard_rows == 0:
                    out.close()
                    out = open(tmp / names[n // shard_rows], "w", encoding="utf-8")
                out.write(json.dumps({"id": oid, **obj}, ensure_ascii=False, separators=(",", ":")) + "\n")
        finally:
            out.close()
    return [root / name for name in names]


def create_collection(client: Any, parent: str, collection_id: str, index: BaseIndex, *,
                      vector_field: str = VECTOR_FIELD, timeout: float | None = 600.0) -> Any:
    """Create collection ``collection_id`` under ``parent`` (``projects/P/locations/L``) for
    ``index`` through a ``vectorsearch_v1.VectorSearchServiceClient`` and wait for the
    operation; returns the Collection."""
    vs = require("vectorsearch", "google.cloud.vectorsearch_v1", what="the Vector Search 2.0 export")
    if not _OBJECT_ID.fullmatch(collection_id):
        raise InputError(f"collection id {collection_id!r} must match [a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?",
                         input_name="collection_id")
    collection = vs.Collection.from_json(json.dumps(collection_body(index, vector_field=vector_field)))
    operation = client.create_collection(
        request=vs.CreateCollectionRequest(parent=parent, collection_id=collection_id, collection=collection))
    return operation.result(timeout=timeout)


@dataclass
class UpsertReport:
    """What :func:`upsert_data_objects` did: objects created and objects replaced."""

    created: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated


def upsert_data_objects(client: Any, index: BaseIndex, collection: str, *, ids: Sequence[str] | None = None,
                        vector_field: str = VECTOR_FIELD, batch_size: int = MAX_BATCH) -> UpsertReport:
    """Create or replace a data object per row (``ids``, default all) in ``collection``
    (``projects/P/locations/L/collections/C``) through a ``vectorsearch_v1.DataObjectServiceClient``."""
    vs = require("vectorsearch", "google.cloud.vectorsearch_v1", what="the Vector Search 2.0 export")
    exceptions = require("vectorsearch", "google.api_core.exceptions", what="the Vector Search 2.0 export")
    if not _COLLECTION.fullmatch(collection):
        raise InputError(f"collection must be projects/P/locations/L/collections/C, got {collection!r}",
                         input_name="collection")
    if not 1 <= batch_size <= MAX_BATCH:
        raise InputError(f"batch_size must be 1..{MAX_BATCH} (Vector Search 2.0's batch limit), got {batch_size}",
                         input_name="batch_size")
    report = UpsertReport()
    batch: list[tuple[str, Any]] = []

    def flush() -> None:
        requests = [vs.CreateDataObjectRequest(parent=collection, data_object_id=oid, data_object=obj) for oid, obj in batch]
        try:
            client.batch_create_data_objects(request=vs.BatchCreateDataObjectsRequest(parent=collection, requests=requests))
            report.created += len(batch)
        except exceptions.Conflict:  # ALREADY_EXISTS: 409 over REST (Conflict), AlreadyExists over gRPC
            for request in requests:  # some exist: create the others, replace those
                try:
                    client.create_data_object(request=request)
                    report.created += 1
                except exceptions.Conflict:
                    obj = vs.DataObject(request.data_object)
                    obj.name = f"{collection}/dataObjects/{request.data_object_id}"
                    client.update_data_object(request=vs.UpdateDataObjectRequest(data_object=obj))
                    report.updated += 1
        batch.clear()

    for oid, obj in iter_data_objects(index, ids=ids, vector_field=vector_field):
        batch.append((oid, vs.DataObject.from_json(json.dumps(obj))))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report


def _check_field(name: str, what: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise InputError(f"{what} field {name!r}: Vector Search 2.0 field names may hold only letters, digits, '_' "
                         "and '-'", input_name=what)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return "strings"
    return "other"
