"""The contract of a multi-vector page embedder, and the loop that indexes documents with one.

A :class:`MultiVectorEmbedder` turns page images into one ``(n_i, d)`` float matrix per page
and query strings into one ``(m_j, d)`` matrix per query, in one :class:`EmbeddingSpace`, so
that MaxSim (:mod:`vertex_mm.late_interaction`) can compare them. Implementations:

* ``local_backend.models.regions.RegionConSEEmbedder`` (registry name ``regions``) — offline:
  CNN region vectors in the ConSE joint space (sees pictures, does not read text).
* ``local_backend.models.colpali_engine.ColPaliEmbedder`` (``colpali-engine``, spec
  ``colpali:DIR``) — real ColPali / ColQwen2 / ColSmol checkpoints through colpali-engine,
  from a local folder.

Anything with these two methods and a ``space`` works: the index, the late-interaction
retriever and the evaluation harness only see the protocol.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError
from ..index.multivector import MultiVectorIndex
from ..pixels import upright_rgb
from ..results import EmbeddingSpace
from .ingest import PageImage, iter_page_batches, nfc

__all__ = ["MultiVectorEmbedder", "as_pil", "index_pages"]


@runtime_checkable
class MultiVectorEmbedder(Protocol):
    """Pages and queries to token-vector matrices in one embedding space."""

    space: EmbeddingSpace

    def embed_pages(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One float32 ``(n_i, space.dimension)`` matrix per page image (PIL image or PageImage)."""
        ...

    def embed_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        """One float32 ``(m_j, space.dimension)`` matrix per query string."""
        ...


def as_pil(page: Any) -> Any:
    """A PIL image from a :class:`PageImage` or a PIL image, as ``pages index`` embeds it:
    upright (EXIF), 8-bit, transparency on white (:func:`~vertex_mm.pixels.upright_rgb`; a
    plain ``convert("RGB")`` made a transparent slide black and a 16-bit scan white)."""
    image = page.image if isinstance(page, PageImage) else page
    return upright_rgb(image)


def index_pages(
    embedder: MultiVectorEmbedder,
    index: MultiVectorIndex,
    pages: Iterable[PageImage],
    *,
    batch_size: int = 8,
    replace: bool = False,
    on_page: Callable[[PageImage], None] | None = None,
    save_to: str | os.PathLike[str] | None = None,
) -> dict[str, int]:
    """Embed a stream of pages in batches and add them to ``index`` document by document.

    ``index`` is a :class:`vertex_mm.index.MultiVectorIndex`. When it is saved somewhere (or
    ``save_to`` says where), each finished document is saved before the next starts, so only
    one batch of page images and one document's vectors are in memory at a time; a new index is
    first written with its first document, so a run that embeds nothing leaves none. Returns
    pages per document.
    """
    counts: dict[str, int] = {}
    doc: str | None = None
    vectors: list[np.ndarray] = []
    pages_of_doc: list[PageImage] = []
    # An index built before ids were normalised holds the NFD ids of NFD file names; a new page's
    # id is NFC. The same document either way: refused as held, or replaced, never kept twice.
    held_as: dict[str, list[str]] = {}
    for held in index.doc_ids():
        if nfc(held) != held:
            held_as.setdefault(nfc(held), []).append(held)

    def flush() -> None:
        if doc is not None and vectors:
            old = [d for d in held_as.pop(nfc(doc), []) if d != doc]
            if old and not replace:
                raise InputError(f"document {doc!r} is already indexed (as {old[0]!r}); pass replace=True to re-index it",
                                 input_name="doc_id")
            index.add(doc, vectors, page_numbers=[p.page_number for p in pages_of_doc],
                      page_ids=[p.page_id for p in pages_of_doc], metadata=[p.metadata() for p in pages_of_doc],
                      space=embedder.space, replace=replace)
            for d in old:  # after its new pages passed every check, and saved with them
                index.delete(d)
            if save_to is not None or index.path is not None:
                index.save(save_to)  # where it lives already: only the new document is written
            counts[doc] = len(vectors)

    for batch in iter_page_batches(pages, batch_size):
        embedded = embedder.embed_pages(batch)
        for page, vecs in zip(batch, embedded):
            if page.doc_id != doc:
                flush()
                doc, vectors, pages_of_doc = page.doc_id, [], []
            vectors.append(np.asarray(vecs, dtype=np.float32))
            pages_of_doc.append(page)
            if on_page is not None:
                on_page(page)
    flush()
    return counts
