"""Images into a LangChain ``InMemoryVectorStore``, which has no call for them.

``InMemoryVectorStore.add_documents`` embeds ``page_content`` as text. An image is stored the
way ``add_documents`` stores a text (the same record, so search, ``get_by_ids``, ``dump`` and
``load`` treat it alike): its ``page_content`` is the image's location and its metadata says
``source`` and ``modality: "image"``; its vector comes from the store's
``embeddings.embed_image``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.vectorstores import InMemoryVectorStore

from ...errors import InputError

__all__ = ["aadd_images", "add_images"]


def add_images(store: InMemoryVectorStore, uris: Sequence[str | os.PathLike[str]], *,
               metadatas: Sequence[dict[str, Any]] | None = None, ids: Sequence[str] | None = None) -> list[str]:
    """Embed images with ``store.embeddings.embed_image`` and add them; returns their ids.
    Nothing is added unless every image embedded (the error names the ones that failed)."""
    locations = _locations(uris, metadatas, ids)
    return _store(store, locations, _embedder_of(store).embed_image(locations), metadatas, ids)


async def aadd_images(store: InMemoryVectorStore, uris: Sequence[str | os.PathLike[str]], *,
                      metadatas: Sequence[dict[str, Any]] | None = None, ids: Sequence[str] | None = None) -> list[str]:
    """The coroutine form of :func:`add_images` (awaits ``aembed_image``)."""
    locations = _locations(uris, metadatas, ids)
    return _store(store, locations, await _embedder_of(store).aembed_image(locations), metadatas, ids)


def _embedder_of(store: InMemoryVectorStore) -> Any:
    embeddings = store.embeddings
    if not callable(getattr(embeddings, "embed_image", None)):
        raise TypeError(f"the store's embeddings ({type(embeddings).__name__}) cannot embed images; "
                        "build the store with vertex_mm.integrations.langchain.VertexMMEmbeddings")
    return embeddings


def _locations(uris: Sequence[str | os.PathLike[str]], metadatas: Sequence[dict[str, Any]] | None,
               ids: Sequence[str] | None) -> list[str]:
    for i, u in enumerate(uris):
        if not isinstance(u, (str, os.PathLike)):  # bytes became page_content and broke every later search
            raise InputError(f"image #{i} is a {type(u).__name__}: add_images stores each image under its location, "
                             "so pass paths or gs:// URIs (embed image bytes with embed_image and store them yourself)",
                             input_name=f"#{i}")
    locations = [os.fsdecode(u) for u in uris]
    for name, given in (("metadatas", metadatas), ("ids", ids)):
        if given is not None and len(given) != len(locations):
            raise ValueError(f"{name} must be as long as uris: got {len(given)} for {len(locations)} images")
    return locations


def _store(store: InMemoryVectorStore, locations: list[str], vectors: list[list[float]],
           metadatas: Sequence[dict[str, Any]] | None, ids: Sequence[str] | None) -> list[str]:
    added: list[str] = []
    for i, (location, vector) in enumerate(zip(locations, vectors)):
        doc_id = ids[i] if ids is not None else str(uuid.uuid4())
        metadata = {"source": location, "modality": "image", **(metadatas[i] if metadatas is not None else {})}
        # The record add_documents writes (langchain_core/vectorstores/in_memory.py).
        store.store[doc_id] = {"id": doc_id, "vector": vector, "text": location, "metadata": metadata}
        added.append(doc_id)
    return added
