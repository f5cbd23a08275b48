"""``VertexMMEmbeddings``: any vertex-mm backend as a LangChain ``Embeddings``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from ...embedder import BaseEmbedder
from ...results import EmbeddingSpace
from .._adapter import DEFAULT_DOCUMENT_TASK, DEFAULT_QUERY_TASK, EmbedderAdapter, check_ready_embedder, make_embedder

__all__ = ["VertexMMEmbeddings"]


class VertexMMEmbeddings(Embeddings):
    """Texts and images into one embedding space, through LangChain's ``Embeddings`` interface.

    ``backend`` is a :func:`vertex_mm.get_embedder` name (``"vertex"``, ``"gemini"``,
    ``"local"``...); ``**options`` are that backend's (``project``, ``location``,
    ``api_endpoint``, ``model``...) and the batch engine's (``requests_per_minute``: set it to
    your quota, the remote default is 120; ``concurrency``; ``retry``; ``cache``: an sqlite
    path). Or pass a ready ``embedder=`` (configured by its owner, who also closes it).

    ``dimension``: the vector length (checked now). ``query_task`` / ``document_task``: the task
    instructions of :meth:`embed_query` / :meth:`embed_documents` on a backend that embeds
    contents (gemini, local): presets of :data:`vertex_mm.content.TASKS` or a template holding
    ``{content}``; None for none; ``task=`` sets both (documents of a query-side preset such as
    ``question_answering`` or ``retrieval_query`` get ``retrieval_document``, as the model's
    documentation embeds them). multimodalembedding@001 (``"vertex"``)
    takes none, and asking for one there raises.

    Errors: a list call tries every input, then raises
    :class:`~vertex_mm.integrations.FailedInputsError` (a ``BatchError`` and a ``ValueError``)
    naming each failed input; :meth:`embed_query` raises its input's own typed error. The
    ``a…`` methods await the batch engine's asyncio runner: ``concurrency`` requests in flight
    at once, the event loop never blocked.
    """

    def __init__(self, backend: str | None = None, *, embedder: BaseEmbedder | None = None,
                 dimension: int | None = None, task: str | None = None,
                 query_task: str | None = DEFAULT_QUERY_TASK, document_task: str | None = DEFAULT_DOCUMENT_TASK,
                 **options: Any) -> None:
        if embedder is not None:
            check_ready_embedder(embedder, backend, options)
        owns = embedder is None
        made = embedder if embedder is not None else make_embedder(backend or "vertex", options)
        try:
            self._adapter = EmbedderAdapter(made, dimension=dimension, task=task, query_task=query_task,
                                            document_task=document_task, owns_embedder=owns)
        except BaseException:
            if owns:
                made.close()
            raise

    @property
    def embedder(self) -> BaseEmbedder:
        """The vertex-mm embedder underneath (its ``batch``, ``space``, ``close``...)."""
        return self._adapter.embedder

    @property
    def space(self) -> EmbeddingSpace:
        """The embedding space of every vector this object returns."""
        return self._adapter.space

    @property
    def dimension(self) -> int:
        return self._adapter.dimension

    # -- langchain_core.embeddings.Embeddings -------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, each with the document task instruction."""
        return self._adapter.documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """One vector, with the query task instruction."""
        return self._adapter.query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._adapter.adocuments(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await self._adapter.aquery(text)

    # -- images (the method name and keyword that Chroma's add_images and OpenCLIPEmbeddings use) --
    def embed_image(self, uris: Sequence[Any]) -> list[list[float]]:
        """One vector per image, in the space of the text vectors: local paths, ``gs://`` URIs
        (remote backends), bytes or :class:`vertex_mm.Image`."""
        return self._adapter.images(uris)

    async def aembed_image(self, uris: Sequence[Any]) -> list[list[float]]:
        return await self._adapter.aimages(uris)

    def close(self) -> None:
        """Release the embedder this object made (connections, threads, a local model's pool)."""
        self._adapter.close()

    def __repr__(self) -> str:
        return f"VertexMMEmbeddings({self._adapter!r})"
