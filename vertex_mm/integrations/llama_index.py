"""vertex-mm under LlamaIndex: :class:`VertexMMMultiModalEmbedding`, a
``llama_index.core.embeddings.MultiModalEmbedding`` with real async.

Needs ``pip install 'vertex-mm[llamaindex]'`` (``llama-index-core``)::

    from vertex_mm.integrations.llama_index import VertexMMMultiModalEmbedding

    embed_model = VertexMMMultiModalEmbedding(backend="local")    # or "vertex", "gemini"
    embed_model.get_image_embedding_batch(["cat.jpg", "rocket.jpg"])
    await embed_model.aget_text_embedding_batch(texts)           # requests in flight at once

The ``_aget_*`` hooks await the batch engine's asyncio runner, so one batch keeps
``concurrency`` requests in flight under the rate limiter and retries, and the event loop is
never blocked: not the sync path in disguise.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import ImageType

from ..embedder import BaseEmbedder
from ._adapter import DEFAULT_DOCUMENT_TASK, DEFAULT_QUERY_TASK, EmbedderAdapter, check_ready_embedder, make_embedder

__all__ = ["VertexMMMultiModalEmbedding"]

Embedding = list[float]


class VertexMMMultiModalEmbedding(MultiModalEmbedding):
    """Texts, queries and images into one embedding space, through LlamaIndex.

    Fields: ``backend`` (a :func:`vertex_mm.get_embedder` name), ``dimension``, ``task`` /
    ``query_task`` / ``document_task`` (as in
    :class:`~vertex_mm.integrations.langchain.VertexMMEmbeddings`: task instructions for
    backends that embed contents; text nodes are documents, queries are queries), and
    ``embedder_options``. Other keywords that are not LlamaIndex fields are embedder options:
    the backend's (``project``, ``location``, ``api_endpoint``...) and the batch engine's
    (``requests_per_minute``, ``concurrency``, ``retry``, ``cache``). Or pass a ready
    ``embedder=``.

    ``embed_batch_size`` (default 64) is how many inputs LlamaIndex hands over per call; each
    call runs through the batch engine with ``concurrency`` requests in flight.

    Errors: a batch hook raises :class:`~vertex_mm.integrations.FailedInputsError` after every
    input of its batch was tried (indices are within the batch LlamaIndex handed over; the
    message also names each input); a one-input call raises its input's own typed error.

    Pickling (what ``IngestionPipeline(num_workers=...)`` does) keeps the fields and builds
    the embedder anew on load; an instance made around a ready ``embedder=`` cannot be
    pickled, as the embedder holds connections and threads and nothing says how to rebuild it.
    ``copy.deepcopy`` likewise builds a new embedder (or shares the ready one).
    """

    # Frozen: the embedder is built from them once; a field set later would be shown (and
    # pickled to IngestionPipeline's workers) but not used. Make a new instance instead.
    backend: str = Field(default="vertex", frozen=True, description="vertex_mm.get_embedder backend name")
    dimension: int | None = Field(default=None, frozen=True, description="vector length (None: the backend's default)")
    task: str | None = Field(default=None, frozen=True, description="task instruction for queries and documents alike")
    query_task: str | None = Field(default=DEFAULT_QUERY_TASK, frozen=True, description="task instruction of queries")
    document_task: str | None = Field(default=DEFAULT_DOCUMENT_TASK, frozen=True,
                                      description="task instruction of texts")
    # Excluded from to_dict/to_json: it may hold credentials or an API key. Pickling keeps it.
    embedder_options: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False, frozen=True,
                                             description="get_embedder and configure_batch options")
    # LlamaIndex's default (10) would drain the pipeline every 10 inputs; 64 is the local
    # backend's inference chunk and keeps a remote backend's workers busy.
    embed_batch_size: int = Field(default=64, gt=0, le=2048, description="inputs per call")

    _adapter: EmbedderAdapter | None = PrivateAttr(default=None)
    _rebuildable: bool = PrivateAttr(default=True)

    def __init__(self, backend: str | None = None, *, embedder: BaseEmbedder | None = None,
                 embedder_options: dict[str, Any] | None = None, **data: Any) -> None:
        own_fields = set(type(self).model_fields)
        options = {**(embedder_options or {}), **{k: data.pop(k) for k in list(data) if k not in own_fields}}
        if data.get("embeddings_cache") is not None:
            # LlamaIndex keys its cache on the text alone, for queries and documents alike: a query
            # equal to a cached document would get the document's vector (another task instruction).
            raise ValueError("embeddings_cache= mixes query and document vectors (LlamaIndex keys it on the "
                             "text alone); use vertex-mm's cache='PATH.sqlite', keyed on the task and space too")
        if embedder is not None:
            check_ready_embedder(embedder, backend, options)
        # The registry name rebuilds the embedder on load; it may differ from embedder.backend.
        name = embedder.backend if embedder is not None else backend or "vertex"
        made = embedder if embedder is not None else make_embedder(name, options)
        try:
            wanted = data.get("model_name")
            if wanted is not None and wanted != made.model:
                # LlamaIndex's way to pick a model: the backend's model= (kept with the options,
                # so a pickled copy makes the same one). A ready embedder's model is its own.
                if embedder is not None or "model" in options:
                    raise ValueError(f"model_name={wanted!r} but the embedder's model is {made.model!r}")
                made.close()
                options = {**options, "model": wanted}
                made = make_embedder(name, options)
            data["model_name"] = made.model
            data.update(backend=name, embedder_options=options)
            super().__init__(**data)
            self._adapter = EmbedderAdapter(made, dimension=self.dimension, task=self.task, query_task=self.query_task,
                                            document_task=self.document_task, owns_embedder=embedder is None)
        except BaseException:
            if embedder is None:
                made.close()
            raise
        self._rebuildable = embedder is None

    @classmethod
    def class_name(cls) -> str:
        return "VertexMMMultiModalEmbedding"

    @property
    def embedder(self) -> BaseEmbedder:
        """The vertex-mm embedder underneath."""
        return self._live().embedder

    def to_payload(self) -> dict[str, Any]:
        """What LlamaIndex's instrumentation records: no options (they may hold credentials)."""
        return {**super().to_payload(), "backend": self.backend, "dimension": self._live().dimension}

    def _live(self) -> EmbedderAdapter:
        if self._adapter is None:
            raise RuntimeError("this VertexMMMultiModalEmbedding has no embedder (it was closed)")
        return self._adapter

    # -- text hooks (BaseEmbedding) -----------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._live().query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._live().aquery(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._live().document(text)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await self._live().adocument(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._live().documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._live().adocuments(texts)

    # -- image hooks (MultiModalEmbedding) ----------------------------------------------------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._live().image(img_file_path)

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return await self._live().aimage(img_file_path)

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._live().images(img_file_paths)

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return await self._live().aimages(img_file_paths)

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the embedder this object made; later calls raise. Safe to call twice."""
        if self._adapter is not None:
            self._adapter.close()
            self._adapter = None

    def __getstate__(self) -> dict[Any, Any]:
        if not self._rebuildable:
            raise TypeError("a VertexMMMultiModalEmbedding made around a ready embedder= cannot be pickled; "
                            "make it from backend= and options, and it is rebuilt on load")
        # pydantic's own state, less the adapter: LlamaIndex's BaseComponent.__getstate__ would
        # try to pickle the embedder and log a warning for each attribute it drops.
        state = dict(BaseModel.__getstate__(self))
        state["__pydantic_private__"] = {**(state.get("__pydantic_private__") or {}), "_adapter": None}
        return state

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> "VertexMMMultiModalEmbedding":
        # pydantic's deep copy would copy the embedder's locks and threads, and fail. A copy is
        # made from the fields with an embedder of its own; one around a ready embedder shares it.
        if not self._rebuildable:
            return self.model_copy()
        return type(self)(**dict(self.__dict__))

    def __setstate__(self, state: dict[Any, Any]) -> None:
        # Rebuild from the fields, as LlamaIndex's BaseComponent does, but let errors show.
        self.__init__(**state["__dict__"])  # type: ignore[misc]
