"""Page retrievers from specs and from saved indexes: what :func:`vertex_mm.registry.get_page_retriever`
and :func:`vertex_mm.registry.load_page_retriever` call (lazily, by name).

A spec names either a retriever of this package (``ocr-fused``, ``ocr-bm25``) or a page model
of the local registry (``"kind": "pages"``), which then embeds pages and queries for
:class:`vertex_mm.pages.LateInteractionRetriever`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vertex_mm.errors import InputError
from vertex_mm.index import IndexKindError, MultiVectorIndex, index_kind
from vertex_mm.pages import LateInteractionRetriever, PageRetriever
from vertex_mm.registry import PageRetrieverSpec

from ..models.registry import create_page_embedder, list_models, model_kind
from .retriever import RETRIEVER_NAME, OcrAssistedPageRetriever

__all__ = ["create_page_retriever", "load_page_retriever"]


def create_page_retriever(spec: PageRetrieverSpec, **options: Any) -> PageRetriever:
    """A new retriever for a parsed spec; ``options`` go to its constructor."""
    if spec.name == RETRIEVER_NAME:
        return OcrAssistedPageRetriever(**options)
    if spec.name == "ocr-bm25":
        return OcrAssistedPageRetriever.ocr_bm25_baseline(**options)
    return LateInteractionRetriever(_page_embedder(spec), name=str(spec), **options)


def load_page_retriever(path: str | os.PathLike[str], spec: PageRetrieverSpec | None = None, *,
                        verify: bool = True, **options: Any) -> PageRetriever:
    """The retriever saved at ``path``. A multi-vector index is searched with the embedder its
    spec names (``spec``, else the one recorded at indexing time)."""
    root = Path(path)
    kind = index_kind(root)
    if kind is None:
        raise FileNotFoundError(f"{root}: no page index here (build one with `vertex-mm pages index`)")
    if kind == "ocr-fused":
        if spec is not None and spec.late_interaction:
            raise InputError(f"{root} is an ocr-fused index; it cannot be searched with {spec}", input_name=str(spec))
        return OcrAssistedPageRetriever.load(root, verify=verify, **options)
    if kind != MultiVectorIndex.kind:
        raise IndexKindError(f"{root} holds a {kind!r} index, not a page index (search it with `vertex-mm search`)")
    index = MultiVectorIndex.load(root, verify=verify)
    if spec is None:
        if not index.embedder:
            raise InputError(f"{root} does not record which embedder built it; name it (e.g. --embedder regions)",
                             input_name=str(root))
        from vertex_mm.registry import parse_page_retriever_spec

        spec = parse_page_retriever_spec(index.embedder)
    if not spec.late_interaction:
        raise InputError(f"{root} is a multi-vector index (built by {index.embedder or 'a page model'}); {spec} cannot search it",
                         input_name=str(spec))
    return LateInteractionRetriever(_page_embedder(spec), name=str(spec), index=index, **options)


def _page_embedder(spec: PageRetrieverSpec) -> Any:
    try:
        model_kind(spec.model)
    except ValueError:
        pages_models = [n for n in list_models() if model_kind(n) == "pages"]
        raise InputError(f"unknown page retriever {str(spec)!r}: use {RETRIEVER_NAME}, regions (alias local), colpali:DIR, "
                         f"gemini, or a page model of the local registry ({', '.join(pages_models)})",
                         input_name=str(spec)) from None
    return create_page_embedder(spec.model, spec.checkpoint)
