"""Multi-vector pages in any single-vector index, through their MUVERA encodings.

:func:`fde_index` turns the live pages of a :class:`~vertex_mm.index.MultiVectorIndex` into a
single-vector index (one row per page, id = page id) of their MUVERA fixed-dimensional
encodings (:mod:`vertex_mm.late_interaction.muvera`); :func:`fde_queries` encodes queries for
it. What holds the rows is any vertex-mm vector index, and through it every export::

    pages = MultiVectorIndex.load("pages.idx")
    flat = fde_index(pages)                               # FlatIndex (exact); backend="faiss": HNSW/IVF
    hits = flat.search(fde_queries(pages, query_vectors), k=200)   # candidates ...
    export_batch(flat, "batch_root/")                     # ... or Vertex AI Vector Search batch files
    export_parquet(flat, "pages.parquet")                 # ... or BigQuery VECTOR_SEARCH

then rerank those candidates by exact MaxSim (``pages.search(..., mode="muvera")`` does both
in one process).

Encodings are compared by inner product, and vertex-mm's indexes (like a Vector Search index
with cosine distance and BigQuery's ``COSINE``) compare by cosine. The rows are therefore
stored in the exact inner-product-to-cosine form of
:func:`~vertex_mm.late_interaction.muvera.cosine_documents` (one extra coordinate, every row of
unit length) and queries in that of :func:`~vertex_mm.late_interaction.muvera.cosine_queries`:
cosine order is then inner-product order, in every engine. The space records the settings:
``backend/model/fde_dim+1/<variant+>muvera-...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..late_interaction.muvera import MuveraConfig, MuveraEncoder, cosine_documents, cosine_queries
from ..results import Embeddings, EmbeddingSpace
from .base import BaseIndex, IndexConfig
from .multivector import MultiVectorIndex

__all__ = ["fde_index", "fde_queries", "fde_space"]


def fde_space(space: EmbeddingSpace, config: MuveraConfig) -> EmbeddingSpace:
    """The space of the encodings of pages of ``space`` (cosine form: ``fde_dim + 1`` long)."""
    variant = "+".join(v for v in (space.variant, config.tag()) if v)
    return EmbeddingSpace(space.backend, space.model, config.fde_dim + 1, variant)


def _settings(pages: MultiVectorIndex, config: MuveraConfig | None) -> MuveraConfig:
    return config or pages.muvera or MuveraConfig(dimension=pages.dimension)


def fde_index(
    pages: MultiVectorIndex,
    *,
    backend: str = "flat",
    config: MuveraConfig | None = None,
    index_config: IndexConfig | None = None,
) -> BaseIndex:
    """A single-vector index of the live pages' MUVERA encodings, one row per page.

    ``config``: the settings (default: the index's own :attr:`~MultiVectorIndex.muvera`, else
    the defaults); its saved encodings are reused when they match. ``backend``: ``"flat"`` or
    ``"faiss"`` (``index_config`` sets FAISS options; its space is replaced). Row ids are page
    ids; metadata is the page's own plus ``doc_id`` and ``page_number``. Build it again after the
    pages change: rows are scaled by the longest encoding of this build.
    """
    from . import create_index

    if backend not in ("flat", "faiss"):
        raise InputError(f"backend must be 'flat' or 'faiss', got {backend!r}", input_name="backend")
    cfg = _settings(pages, config)
    space = fde_space(pages.space, cfg)
    ic = IndexConfig(space=space) if index_config is None else IndexConfig.from_options(space, index_config.options())
    out = create_index(ic, backend)
    ids, metas = _rows(pages)
    if not ids:
        return out
    encodings = _encodings(pages, cfg)
    unit, _ = cosine_documents(encodings)
    out.add(ids, Embeddings(unit, space), metas)
    return out


def fde_queries(pages: MultiVectorIndex, queries: Sequence[np.ndarray] | np.ndarray,
                config: MuveraConfig | None = None) -> Embeddings:
    """Query token matrices encoded for :func:`fde_index` of ``pages`` (same ``config``)."""
    cfg = _settings(pages, config)
    return Embeddings(cosine_queries(MuveraEncoder(cfg).encode_queries(queries)), fde_space(pages.space, cfg))


def _rows(pages: MultiVectorIndex) -> tuple[list[str], list[dict[str, Any]]]:
    ids, metas = [], []
    for seg in pages._all_segments():
        for row, alive in zip(seg.rows, seg.live):
            if alive:
                ids.append(str(row["page_id"]))
                metas.append({**dict(row.get("metadata", {})), "doc_id": row["doc_id"], "page_number": int(row["page_number"])})
    return ids, metas


def _encodings(pages: MultiVectorIndex, cfg: MuveraConfig) -> np.ndarray:
    if cfg == (pages.muvera or MuveraConfig(dimension=pages.dimension)):
        return pages._live_fde()  # the saved sidecars where there are some
    enc = MuveraEncoder(cfg)  # other settings: encode each segment (a memory map) as it is
    return np.concatenate([enc.encode_documents(seg.pages)[seg.live] for seg in pages._all_segments() if seg.live.any()])
