"""``get_embedder(name, **options)``: one entry point for every backend; and the page
retrievers' entry points, :func:`get_page_retriever` and :func:`load_page_retriever`.

Backends are imported lazily, so a cloud pipeline never imports torch and a laptop without
google credentials never touches them. This module (with the CLI) is the only place where
``vertex_mm`` reaches ``local_backend``, and only through the ``"module:attr"`` strings below.

Page-retriever specs (:func:`parse_page_retriever_spec`, the one parser, used by
``vertex-mm pages`` and the examples):

* ``ocr-fused`` (default) — the offline OCR-assisted retriever; not ColPali.
* ``ocr-bm25`` — tesseract on every page + BM25 (the evaluation's baseline).
* ``regions`` (alias ``local``) — the offline CNN-region multi-vector model, late interaction.
* ``colpali:DIR`` — a ColPali-family checkpoint (ColPali, ColQwen2, ColModernVBert; the
  family is read from the folder) on transformers' own classes, late interaction;
  ``colqwen2:DIR``, ``colmodernvbert:DIR`` name the family; ``colpali-engine:DIR`` is the
  legacy adapter (needs colpali-engine).
* ``NAME`` or ``NAME:DIR`` — any page model of the local registry (``"kind": "pages"``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._optional import install_hint
from .embedder import BaseEmbedder
from .errors import InputError, MissingDependencyError

if TYPE_CHECKING:  # vertex_mm.pages imports the index, which imports this module
    from .pages.retriever import PageRetriever

__all__ = [
    "PageRetrieverSpec",
    "get_embedder",
    "get_page_retriever",
    "index_loader",
    "list_backends",
    "make_embedder",
    "load_page_retriever",
    "parse_page_retriever_spec",
    "register_backend",
]

# name -> "module:factory", imported on first use.
_BACKENDS: dict[str, str] = {
    "vertex": "vertex_mm.vertex:VertexEmbedder",
    "gemini": "vertex_mm.gemini:GeminiEmbedder",
    "local": "local_backend:create_local_embedder",
    # Deterministic, meaningless vectors, no model: for testing pipelines (vertex_mm.testing).
    "hashed": "vertex_mm.testing.hashed:HashedEmbedder",
}

# backend -> the extra that brings what it imports
_EXTRA = {"local": "local"}


def register_backend(name: str, target: str | Callable[..., BaseEmbedder]) -> None:
    """Add a backend: ``target`` is a factory or a ``"module:attr"`` string."""
    _BACKENDS[name] = target  # type: ignore[assignment]


def make_embedder(backend: str, options: Mapping[str, Any]) -> BaseEmbedder:
    """``get_embedder(backend, **options)``, for callers holding the options as a mapping."""
    return get_embedder(backend, **options)


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def get_embedder(name: str = "vertex", **options: Any) -> BaseEmbedder:
    """Create an embedder. ``name`` is ``"vertex"``, ``"gemini"`` or ``"local"``.

    >>> emb = get_embedder("local")                                  # offline
    >>> emb = get_embedder("vertex", project="p", location="us-central1")
    >>> emb = get_embedder("vertex", api_endpoint="http://127.0.0.1:8080")   # the emulator
    """
    from .batch.options import BATCH_OPTION_NAMES

    try:
        target = _BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(list_backends())}") from None
    # The batch options (requests_per_minute, concurrency, retry, cache...) go to
    # configure_batch(), not to the constructor: not every backend's constructor takes them
    # (the local one does not), and code written against the cloud must run unchanged locally.
    batch = {k: v for k, v in options.items() if k in BATCH_OPTION_NAMES}
    own = {k: v for k, v in options.items() if k not in BATCH_OPTION_NAMES}
    factory = target if callable(target) else _lazy(target, f"backend {name!r}", _EXTRA.get(name))
    embedder: BaseEmbedder = factory(**own)
    if batch:
        try:
            embedder.configure_batch(**batch)
        except BaseException:
            embedder.close()
            raise
    return embedder


def _lazy(target: str, what: str, extra: str | None = "local") -> Any:
    """The attribute a ``"module:attr"`` string names, imported now."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f": {install_hint(extra)}" if extra else ""
        raise MissingDependencyError(f"{what} cannot be imported ({exc}){hint}") from exc
    return getattr(module, attr)


# --- page retrievers ----------------------------------------------------------------------------

#: Retrievers that are not "a page model + late interaction".
_PAGE_RETRIEVERS = ("ocr-fused", "ocr-bm25")
#: Spec name -> the embedding backend that embeds each page as one content (one vector per
#: page; :mod:`vertex_mm.pages.content_retriever`, no local backend needed).
_CONTENT_RETRIEVERS = {"gemini": "gemini"}
#: Spec names that are other names: ``local`` is what the CLI called the region model.
_PAGE_ALIASES = {"local": "regions"}
#: Page models of the local registry that load no checkpoint folder (their factory takes none):
#: ``regions:DIR`` is a mistake to say here, not a TypeError from the factory.
_PAGE_MODELS_WITHOUT_CHECKPOINT = frozenset({"regions"})
#: Spec name -> local registry page model, where they differ (none today: ``colpali``,
#: ``colqwen2`` and ``colmodernvbert`` are the native transformers models; the legacy
#: colpali-engine adapter is reached only by its own name, ``colpali-engine:DIR``).
_PAGE_MODELS: dict[str, str] = {}
_PAGE_FACTORY = "local_backend.pages:create_page_retriever"
_PAGE_LOADER = "local_backend.pages:load_page_retriever"
#: Index kinds saved by the local backend -> their loader (``vertex_mm.index.load_index``).
_CONTENT_PAGES = "vertex_mm.pages.content_retriever"  # one vector per page from a cloud model
_INDEX_LOADERS = {"ocr-fused": "local_backend.pages:load_page_retriever",
                  "content-pages": f"{_CONTENT_PAGES}:load_vectors"}


@dataclass(frozen=True)
class PageRetrieverSpec:
    """A parsed page-retriever spec: ``name`` (aliases resolved) and an optional ``checkpoint``
    folder. ``str(spec)`` is the canonical spec, e.g. ``"regions"``, ``"colpali:/models/x"``."""

    name: str
    checkpoint: str | None = None

    @property
    def late_interaction(self) -> bool:
        """True for a page model searched by late interaction, False for ``ocr-fused``,
        ``ocr-bm25`` and the one-vector-per-page ``gemini``."""
        return self.name not in _PAGE_RETRIEVERS and not self.content

    @property
    def content(self) -> bool:
        """True for a cloud model that embeds each page as one content (``gemini``)."""
        return self.name in _CONTENT_RETRIEVERS

    @property
    def model(self) -> str:
        """The local registry's page model that a late-interaction spec names."""
        return _PAGE_MODELS.get(self.name, self.name)

    def __str__(self) -> str:
        return f"{self.name}:{self.checkpoint}" if self.checkpoint else self.name


def parse_page_retriever_spec(spec: str | PageRetrieverSpec) -> PageRetrieverSpec:
    """``"ocr-fused"``, ``"regions"`` / ``"local"``, ``"colpali:DIR"``, ``"NAME[:DIR]"``; raises
    :class:`InputError` for an empty spec or an empty folder."""
    if isinstance(spec, PageRetrieverSpec):
        return spec
    name, sep, checkpoint = str(spec).strip().partition(":")
    if not name:
        raise InputError(f"empty page-retriever spec {spec!r}: use ocr-fused, regions or colpali:DIR", input_name="spec")
    if sep and not checkpoint:
        raise InputError(f"page-retriever spec {spec!r} names no folder after ':'", input_name="spec")
    name = _PAGE_ALIASES.get(name, name)
    if checkpoint and (name in _PAGE_RETRIEVERS or name in _CONTENT_RETRIEVERS or name in _PAGE_MODELS_WITHOUT_CHECKPOINT):
        raise InputError(f"{name} takes no checkpoint folder (got {spec!r})", input_name="spec")
    return PageRetrieverSpec(name, checkpoint or None)


def get_page_retriever(spec: str | PageRetrieverSpec = "ocr-fused", **options: Any) -> PageRetriever:
    """A new, empty :class:`~vertex_mm.pages.PageRetriever` for ``spec`` (see the module
    docstring); ``options`` go to its constructor (``ocr_workers=`` for ``ocr-fused``;
    ``dpi=``, ``dtype=``, ``pool_factor=``, ``mode=`` ... for late interaction).

    ``gemini`` takes ``dimension=``, ``pages_per_vector=``, ``batch_size=`` and
    ``embedder_options=`` (``get_embedder`` options: ``project=``, ``base_url=``, ...).

    >>> r = get_page_retriever("ocr-fused")                     # doctest: +SKIP
    >>> r = get_page_retriever("colpali:/models/colqwen2")      # doctest: +SKIP
    >>> r = get_page_retriever("gemini", dimension=768, embedder_options={"project": "p"})  # doctest: +SKIP
    """
    parsed = parse_page_retriever_spec(spec)
    if parsed.content:
        retriever_class = _lazy(f"{_CONTENT_PAGES}:ContentPageRetriever", "the content page retriever", extra=None)
        embedder = get_embedder(_CONTENT_RETRIEVERS[parsed.name], **options.pop("embedder_options", None) or {})
        return retriever_class(embedder, name=parsed.name, **options)  # type: ignore[no-any-return]
    return _lazy(_PAGE_FACTORY, f"page retriever {str(parsed)!r}")(parsed, **options)  # type: ignore[no-any-return]


def load_page_retriever(path: str | os.PathLike[str], spec: str | PageRetrieverSpec | None = None,
                        **options: Any) -> PageRetriever:
    """The page retriever saved at ``path``, ready to search. A late-interaction index
    remembers the spec that built it; ``spec`` overrides it (the embedder must embed into the
    index's space). ``verify=False`` skips the SHA-256 checks (sizes are always checked)."""
    parsed = parse_page_retriever_spec(spec) if spec is not None else None
    # Imported by name, like every target here: vertex_mm.index opens page indexes through this module.
    index_kind = _lazy("vertex_mm.index:index_kind", "vertex_mm.index", extra=None)
    if index_kind(path) == _lazy(f"{_CONTENT_PAGES}:KIND", "the content page retriever", extra=None):
        saved_embedder = _lazy(f"{_CONTENT_PAGES}:saved_embedder", "the content page retriever", extra=None)
        load_content_retriever = _lazy(f"{_CONTENT_PAGES}:load_content_retriever", "the content page retriever", extra=None)
        name = parsed.name if parsed is not None else saved_embedder(path)
        if name not in _CONTENT_RETRIEVERS:
            raise InputError(f"{os.fspath(path)} holds one vector per page from a cloud model; search it with "
                             f"{' or '.join(_CONTENT_RETRIEVERS)}, not {name!r}", input_name="spec")
        embedder = get_embedder(_CONTENT_RETRIEVERS[name], **options.pop("embedder_options", None) or {})
        return load_content_retriever(path, embedder, name=name, **options)  # type: ignore[no-any-return]
    return _lazy(_PAGE_LOADER, f"the page index at {os.fspath(path)!r}")(path, parsed, **options)  # type: ignore[no-any-return]


def index_loader(kind: str) -> Callable[..., Any] | None:
    """The loader of an index kind that the local backend saves (``ocr-fused``), for
    :func:`vertex_mm.index.load_index`; None for a kind nobody registered."""
    target = _INDEX_LOADERS.get(kind)
    if target is None:
        return None
    loader = _lazy(target, f"a {kind!r} index")
    return lambda path, verify=True: loader(path, None, verify=verify)
