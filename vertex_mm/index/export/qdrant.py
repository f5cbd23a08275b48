"""Multi-vector pages in Qdrant, embedded: ``qdrant-client``'s local mode, no server to run
(needs ``vertex-mm[qdrant]``).

>>> client = export_qdrant(index, "pages.qdrant")          # a folder; or ":memory:", or a QdrantClient
>>> hits = search_qdrant(client, query_vectors, k=5)       # [[PageHit, ...]] per query

Each live page of a :class:`~vertex_mm.index.MultiVectorIndex` becomes one point holding its
token matrix in a multivector named ``vector_name``; the payload keeps ``page_id``, ``doc_id``,
``page_number``, ``metadata`` and ``embedding_space``. Point ids are UUIDs derived from the page
id (Qdrant takes only integers or UUIDs), so exporting again overwrites the same points.

Qdrant features used (tested with qdrant-client 1.20.0, local mode; multivectors exist since
Qdrant / qdrant-client 1.10):

* ``VectorParams(size=d, distance=Distance.DOT, multivector_config=MultiVectorConfig(
  comparator=MultiVectorComparator.MAX_SIM))``: a point's score is
  ``sum_i max_j <q_i, d_j>``, the same MaxSim as :meth:`MultiVectorIndex.search` (our pages
  are dot-product scored; ColPali's vectors are unit length, where DOT equals cosine);
* ``upsert`` of ``PointStruct(id=UUID, vector={name: matrix}, payload=...)``;
* ``query_points(query=matrix, using=name, limit=k)``, a multi-vector query.

Local mode scores by exact scan (no HNSW) and warns above 20,000 points: it suits a few
thousand pages; for more, point the same calls at a Qdrant server.
The same calls work against a Qdrant server: pass ``QdrantClient(url=...)``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._optional import require
from ...errors import InputError
from ..results import PageHit
from ._pages import check_held_space, check_multivector, check_pages, iter_pages

__all__ = ["DEFAULT_COLLECTION", "export_qdrant", "point_id", "search_qdrant"]

DEFAULT_COLLECTION = "pages"
DEFAULT_VECTOR = "page"
_NAMESPACE = uuid.UUID("5f0e3c4e-8f6b-4f57-9d0c-7a1e6c2b9a10")  # vertex-mm's page-id namespace


def point_id(page_id: str) -> str:
    """The Qdrant point id of a page: a UUID5 of its page id (stable across exports)."""
    return str(uuid.uuid5(_NAMESPACE, page_id))


def _client(path_or_client: Any) -> Any:
    qdrant_client = require("qdrant", "qdrant_client", what="the Qdrant export")
    if isinstance(path_or_client, (str, os.PathLike)):
        location = os.fspath(path_or_client)
        return qdrant_client.QdrantClient(location=":memory:") if location == ":memory:" else \
            qdrant_client.QdrantClient(path=location)
    return path_or_client


def export_qdrant(
    index: Any,
    path_or_client: Any,
    *,
    collection: str = DEFAULT_COLLECTION,
    vector_name: str = DEFAULT_VECTOR,
    replace: bool = False,
    batch_size: int = 64,
) -> Any:
    """Upsert every live page of ``index`` (a :class:`MultiVectorIndex`) into ``collection``.

    ``path_or_client``: a folder for Qdrant's local mode (created if needed), ``":memory:"``,
    or a ``QdrantClient``. A new collection is created with the MaxSim multivector config; an
    existing one must hold ``vector_name`` multivectors of the index's dimension (else
    :class:`InputError`), unless ``replace``: then the pages are written to a new collection
    and ``collection`` becomes an alias of it, and the old one is deleted (searches see the old
    pages or all the new ones). Returns the client (close it to release a local folder's lock).
    """
    index = check_multivector(index, "export_qdrant")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}", input_name="batch_size")
    models = require("qdrant", "qdrant_client.models", what="the Qdrant export")
    client = _client(path_or_client)
    try:
        _upsert_pages(client, models, index, collection, vector_name, replace, batch_size)
    except BaseException:
        if client is not path_or_client:  # opened here: release a local folder's lock
            client.close()
        raise
    return client


def _upsert_pages(client: Any, models: Any, index: Any, collection: str, vector_name: str, replace: bool,
                  batch_size: int) -> None:
    params = models.VectorParams(
        size=index.dimension, distance=models.Distance.DOT,
        multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM))
    space = index.space.id
    check_pages(index, "Qdrant")  # before anything changes, so a refused page leaves the collection as it was
    if replace:
        _swap_in(client, models, index, collection, vector_name, params, batch_size)
        return
    if client.collection_exists(collection):
        _check_collection(client, collection, vector_name, index.dimension)
        held, _ = client.scroll(collection, limit=1, with_payload=["embedding_space"])
        check_held_space(held[0].payload.get("embedding_space") if held else None, space,
                         f"Qdrant collection {collection!r}")
    else:
        client.create_collection(collection, vectors_config={vector_name: params})
    # Upserted batch by batch: a run cut short keeps the pages sent so far, and the rerun
    # upserts the same point ids again.
    _upsert_into(client, models, index, collection, vector_name, batch_size)


def _swap_in(client: Any, models: Any, index: Any, collection: str, vector_name: str, params: Any,
             batch_size: int) -> None:
    """``replace``: the pages go into a new collection, and ``collection`` then becomes an alias
    of it, so searches see the old pages or all the new ones, never some (deleting the old
    collection first left a half-filled one when a run was cut short). A run that fails deletes
    its new collection and leaves the old one as it was.

    The alias is moved in one ``update_collection_aliases`` call, which Qdrant applies
    atomically; the collection it named before is then deleted. When ``collection`` is still a
    collection (not an alias), it is deleted just before the alias is created: a name cannot be
    both, so that first swap has a moment with neither."""
    aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    behind = aliases.get(collection)
    fresh = f"{collection}-{uuid.uuid4().hex[:12]}"
    client.create_collection(fresh, vectors_config={vector_name: params})
    try:
        _upsert_into(client, models, index, fresh, vector_name, batch_size)
    except BaseException:
        client.delete_collection(fresh)
        raise
    ops = [models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=fresh, alias_name=collection))]
    if behind is not None:
        ops.insert(0, models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection)))
    elif client.collection_exists(collection):
        client.delete_collection(collection)
    client.update_collection_aliases(change_aliases_operations=ops)
    if behind is not None and behind not in {target for name, target in aliases.items() if name != collection}:
        client.delete_collection(behind)  # kept while another alias still names it


def _upsert_into(client: Any, models: Any, index: Any, collection: str, vector_name: str, batch_size: int) -> None:
    space = index.space.id
    batch: list[Any] = []
    for page in iter_pages(index):
        payload = {"page_id": page.page_id, "doc_id": page.doc_id, "page_number": page.page_number,
                   "metadata": dict(page.metadata), "embedding_space": space}
        batch.append(models.PointStruct(id=point_id(page.page_id), vector={vector_name: page.vectors.tolist()},
                                        payload=payload))
        if len(batch) >= batch_size:
            client.upsert(collection, points=batch)
            batch = []
    if batch:
        client.upsert(collection, points=batch)


def _check_collection(client: Any, collection: str, vector_name: str, dimension: int) -> None:
    vectors = client.get_collection(collection).config.params.vectors
    params = vectors.get(vector_name) if isinstance(vectors, dict) else None
    if params is None or params.multivector_config is None:
        raise InputError(f"Qdrant collection {collection!r} has no multivector named {vector_name!r}; "
                         "pass replace=True (--replace) to recreate it", input_name="collection")
    if int(params.size) != dimension:
        raise InputError(f"Qdrant collection {collection!r} holds {params.size}-d vectors, the index {dimension}-d; "
                         "pass replace=True (--replace) to recreate it", input_name="collection")


def search_qdrant(
    client: Any,
    queries: Sequence[np.ndarray] | np.ndarray,
    k: int = 5,
    *,
    collection: str = DEFAULT_COLLECTION,
    vector_name: str = DEFAULT_VECTOR,
) -> list[list[PageHit]]:
    """Best ``k`` pages per query (a ``(tokens, dim)`` matrix, or a list of them) by Qdrant's
    MaxSim, as :class:`PageHit` like :meth:`MultiVectorIndex.search` returns."""
    q_list = [queries] if isinstance(queries, np.ndarray) and queries.ndim == 2 else list(queries)
    out = []
    for q in q_list:
        matrix = np.asarray(q, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise InputError(f"a query must be a non-empty (tokens, dim) matrix, got shape {matrix.shape}",
                             input_name="queries")
        points = client.query_points(collection, query=matrix.tolist(), using=vector_name, limit=k,
                                     with_payload=True).points
        out.append([PageHit(p.payload["doc_id"], int(p.payload["page_number"]), float(p.score),
                            dict(p.payload.get("metadata") or {}), page_id=str(p.payload["page_id"])) for p in points])
    return out
