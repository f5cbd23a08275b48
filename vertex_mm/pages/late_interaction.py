"""Page search by late interaction: a :class:`MultiVectorEmbedder` over a :class:`MultiVectorIndex`.

>>> from vertex_mm.registry import get_page_retriever
>>> r = get_page_retriever("colpali:/models/colqwen2-merged")       # doctest: +SKIP
>>> r.index(expand_sources(["reports/"]), save_to="pages.idx")      # doctest: +SKIP
>>> r.search(["revenue by quarter"], k=5)                           # doctest: +SKIP

Pages are rendered (:func:`~vertex_mm.pages.ingest.iter_page_images`), embedded in batches and
added document by document; queries are embedded and scored by exact MaxSim (``mode="screened"``,
through a certified bfloat16 or int16 screen where one runs here, or ``"exact"``, the plain scan:
the same answer) or by Hamming-MaxSim candidates reranked in float (``mode="binary"``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..index.multivector import MultiVectorIndex, SearchMode
from ..index.results import PageHit
from .embedder import MultiVectorEmbedder, index_pages
from .ingest import DEFAULT_DPI, PageRef, iter_page_images, unique_refs
from .retriever import IndexStats

__all__ = ["LateInteractionRetriever"]

# The binary variant of the evaluation table reranks this many candidates per query, and the
# table scores the top EVAL_DEPTH pages (as the float rows do).
_EVAL_CANDIDATES = 8
_EVAL_DEPTH = 10


class LateInteractionRetriever:
    """:class:`~vertex_mm.pages.PageRetriever` over a multi-vector embedder and index.

    ``index`` is an existing :class:`MultiVectorIndex` (a loaded one keeps growing); without it
    a new one is made with ``dtype``, ``pool_factor`` and ``binary``. ``mode`` and
    ``candidates`` choose the search (see :meth:`MultiVectorIndex.search`).
    """

    method = "late interaction"

    def __init__(self, embedder: MultiVectorEmbedder, *, name: str | None = None, index: MultiVectorIndex | None = None,
                 dpi: float = DEFAULT_DPI, batch_size: int = 8, dtype: str = "float16", pool_factor: int = 1,
                 binary: bool = True, mode: SearchMode = "screened", candidates: int = 64, replace: bool = False) -> None:
        self.embedder = embedder
        self.name = name or embedder.space.model
        self.mv_index = index if index is not None else MultiVectorIndex(
            embedder.space, dtype=dtype, pool_factor=pool_factor, binary=binary, embedder=self.name)
        self.dpi, self.batch_size, self.replace = dpi, batch_size, replace
        self.mode, self.candidates = mode, candidates

    @property
    def description(self) -> str:
        what = getattr(self.embedder, "description", "") or f"{self.embedder.space.model} page vectors"
        return f"late interaction (MaxSim) over {what}"

    @property
    def page_ids(self) -> list[str]:
        return self.mv_index.page_ids()

    def index(self, pages: Iterable[PageRef], *, save_to: str | os.PathLike[str] | None = None) -> IndexStats:
        """Render, embed and add ``pages`` document by document (a document already indexed is
        an error unless ``replace``); a page that cannot be read is listed in the stats and
        skipped. With ``save_to`` each finished document is saved at once, so memory holds one
        document's vectors whatever the corpus size; a run that adds no document writes nothing
        there (an empty new index would only make the rerun ask for ``--update``)."""
        t0 = time.perf_counter()
        errors: list[str] = []
        images = iter_page_images(unique_refs(pages), dpi=self.dpi, errors=errors)  # a page given twice is one page
        counts = index_pages(self.embedder, self.mv_index, images, batch_size=self.batch_size, replace=self.replace,
                             save_to=save_to)
        return IndexStats(pages=sum(counts.values()), documents=counts, errors=errors,
                          seconds={"embed": time.perf_counter() - t0})

    def score(self, queries: Sequence[str]) -> np.ndarray:
        return self.mv_index.maxsim_scores(self.embedder.embed_queries(list(queries)))

    def search(self, queries: Sequence[str], k: int = 5) -> list[list[PageHit]]:
        return self.mv_index.search(self.embedder.embed_queries(list(queries)), k=k, mode=self.mode,
                                    candidates=self.candidates, space=self.embedder.space)

    def save(self, path: str | os.PathLike[str]) -> Path:
        return self.mv_index.save(path)

    def eval_variants(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """The ViDoRe paper's companions of late interaction: the binarised two-stage search,
        and the same embedder mean-pooled to one vector per page and query (cosine)."""
        qvecs = self.embedder.embed_queries(list(queries))
        ids = self.page_ids
        column = {p: j for j, p in enumerate(ids)}
        variants: dict[str, np.ndarray] = {}
        if self.mv_index.binary:
            binary = np.full((len(queries), len(ids)), -np.inf, np.float32)
            hits = self.mv_index.search(qvecs, k=_EVAL_DEPTH, mode="binary", candidates=_EVAL_CANDIDATES)
            for i, q_hits in enumerate(hits):
                for h in q_hits:
                    binary[i, column[h.page_id]] = h.score
            variants["  binary + rerank"] = binary
        pages = self.mv_index.live_pages()
        sums = np.add.reduceat(pages.tokens.astype(np.float32), pages.offsets[:-1], axis=0)
        page_means = _unit(sums / pages.lengths[:, None])
        query_means = np.stack([_unit(np.asarray(v, np.float32).mean(axis=0)) for v in qvecs])
        variants["  single vector, mean-pooled"] = query_means @ page_means.T
        return variants

    def __repr__(self) -> str:
        return f"LateInteractionRetriever(name={self.name!r}, index={self.mv_index!r})"


def _unit(x: Any) -> np.ndarray:
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12), dtype=np.float32)
