"""Indexes: vectors of one embedding space (exact on one machine, FAISS for millions, exports
to Vertex AI Vector Search and BigQuery when one machine is not enough), and multi-vector
pages searched by late interaction. Every kind saves to one directory with the same manifest,
checksums and atomic writes (:mod:`.manifest`, :mod:`.persist`), and :func:`load_index`
opens any of them.

>>> from vertex_mm import get_embedder
>>> from vertex_mm.index import FlatIndex, Filter, load_index
>>> emb = get_embedder("local")
>>> index = FlatIndex(emb.space())
>>> index.add(["cat.jpg"], emb.embed_images(["cat.jpg"]), [{"tag": ["animal"]}])
>>> index.search(emb.embed_texts(["a cat"]), k=5, filter=Filter(allow={"tag": ["animal"]}))[0]
>>> index.save("photos.idx"); index = load_index("photos.idx")

Importing this package needs only numpy; FAISS, pyarrow and the Google SDK load on first use.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .base import BaseIndex, IndexConfig
from .errors import *  # noqa: F403 (the error family, listed once in .errors.__all__)
from .filters import Filter, NumericRestrict
from .flat import FlatIndex
from .load import index_kind, load_index
from .multivector import MultiVectorIndex
from .results import Hit, PageHit, SearchResults, page_id

__all__ = [
    "BaseIndex",
    "FaissIndex",  # noqa: F405 (provided by __getattr__ below, on demand)
    "Filter",
    "FlatIndex",
    "Hit",
    "IndexConfig",
    "MultiVectorIndex",
    "NumericRestrict",
    "PageHit",
    "SearchResults",
    "create_index",
    "index_kind",
    "load_index",
    "page_id",
]
__all__ += errors.__all__


def create_index(config: IndexConfig | Any, backend: str = "flat") -> BaseIndex:
    """A new empty index: ``backend`` is ``"flat"`` (exact) or ``"faiss"``; ``config`` is an
    :class:`IndexConfig` or just the :class:`~vertex_mm.EmbeddingSpace`."""
    from .base import _backend_class

    if backend not in ("flat", "faiss"):
        raise ValueError(f"backend must be 'flat' or 'faiss', got {backend!r}")
    return _backend_class(backend)(config)


def __getattr__(name: str) -> Any:
    if name == "FaissIndex":  # imports faiss: only on demand
        from .faiss_index import FaissIndex

        return FaissIndex
    raise AttributeError(f"module 'vertex_mm.index' has no attribute {name!r}")
