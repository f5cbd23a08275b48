"""What the LangChain and LlamaIndex adapters share, with no framework imported: the embedder,
the task instructions of queries and documents, and list-in, vectors-out calls (sync and async)
on the batch engine.

Routing. A backend that embeds *contents* (gemini-embedding-2, the local backend; its
``content_limits`` is set) gets every text and image as a one-part content, so queries and
documents carry their task instructions (``retrieval_query`` / ``retrieval_document`` by
default) and images and texts come back in the one content space, at one dimension. A backend
without contents (multimodalembedding@001) gets ``contextual_text`` and ``image`` requests; it
takes no task instructions, so asking for one is refused at construction, not ignored.

Async. The ``a…`` calls await :meth:`~vertex_mm.embedder.BaseEmbedder.aembed_many`: the
engine's asyncio runner keeps ``concurrency`` requests in flight under the rate limiter and
retry policy, and never blocks the event loop (see :meth:`EmbedderAdapter.aimages`).
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..columns import Column, ItemResult, assemble, coerce_input
from ..content import Task, resolve_task
from ..content import document_task as corpus_task
from ..embedder import BaseEmbedder
from ..errors import InputError, InvalidTextError, UnsupportedInputError, VertexMMError
from ..media import as_image
from ..registry import make_embedder
from ..results import EmbeddingSpace
from ..wire import EmbedRequest
from ._errors import FailedInputsError, first_error

__all__ = ["DEFAULT_DOCUMENT_TASK", "DEFAULT_QUERY_TASK", "EmbedderAdapter", "check_ready_embedder", "make_embedder"]

#: Task presets of :data:`vertex_mm.content.TASKS` applied when the backend embeds contents.
DEFAULT_QUERY_TASK = "retrieval_query"
DEFAULT_DOCUMENT_TASK = "retrieval_document"

Vectors = list[list[float]]


def check_ready_embedder(embedder: BaseEmbedder, backend: str | None, options: Mapping[str, Any]) -> None:
    """A ready ``embedder=`` is configured by its owner: refuse options meant for a new one, and
    a ``backend=`` that names another backend."""
    if options:
        raise TypeError(f"options {sorted(options)} configure a new embedder; a ready embedder= is "
                        "configured by its owner (embedder.configure_batch(...))")
    if backend is not None and backend != embedder.backend:
        raise ValueError(f"backend={backend!r} but the embedder given is {embedder.backend!r}")


def resolve_tasks(embedder: BaseEmbedder, task: str | None, query_task: str | None,
                  document_task: str | None) -> tuple[Task | None, Task | None]:
    """The (query, document) task instructions in force. ``task`` sets both: the documents of a
    query-side preset (``question_answering``, ``fact_verification``, ``code_retrieval``) get
    ``retrieval_document``, as the model's documentation embeds them (:func:`corpus_task`). A
    string holding ``{content}`` is a free-form template, any other a preset name; None: no
    instruction."""
    if task is not None:
        if (query_task, document_task) != (DEFAULT_QUERY_TASK, DEFAULT_DOCUMENT_TASK):
            raise InputError("give task= (both) or query_task=/document_task=, not both", input_name="task")
        query_task = task
        corpus = None if "{content}" in task else corpus_task(task)
        document_task = corpus.name if corpus is not None else task
    if embedder.content_limits is None:
        asked = [t for t, default in ((query_task, DEFAULT_QUERY_TASK), (document_task, DEFAULT_DOCUMENT_TASK))
                 if t is not None and t != default]
        if asked or task is not None:
            raise UnsupportedInputError(
                f"the {embedder.backend} backend ({embedder.model}) takes no task instructions; they are "
                "gemini-embedding-2's (backend='gemini') and the local backend's", input_name="task")
        return None, None
    return _task(query_task), _task(document_task)


def _task(spec: str | None) -> Task | None:
    if spec is None:
        return None
    return resolve_task(task_instruction=spec) if "{content}" in spec else resolve_task(spec)


class EmbedderAdapter:
    """Texts (as queries or documents) and images in, ``list[list[float]]`` out, in input order.

    A batch call tries every input, then raises :class:`FailedInputsError` if any failed; a
    one-input call raises that input's own typed error. ``dimension`` is checked here, once.
    """

    def __init__(self, embedder: BaseEmbedder, *, dimension: int | None = None, task: str | None = None,
                 query_task: str | None = DEFAULT_QUERY_TASK, document_task: str | None = DEFAULT_DOCUMENT_TASK,
                 owns_embedder: bool = False) -> None:
        self.embedder = embedder
        self.owns_embedder = owns_embedder
        self.embeds_contents = embedder.content_limits is not None
        self.query_task, self.document_task = resolve_tasks(embedder, task, query_task, document_task)
        self.space: EmbeddingSpace = (embedder.content_space(dimension) if self.embeds_contents
                                      else embedder.space(dimension))

    @property
    def dimension(self) -> int:
        return self.space.dimension

    # -- columns: how one input becomes one request ------------------------------------------
    def _text_column(self, task: Task | None) -> Column:
        def build(text: Any, key: str) -> EmbedRequest:
            if not isinstance(text, str):
                # A str is text, always: bytes or a Path would otherwise be sniffed as media.
                raise InvalidTextError(f"texts[{key}]: expected str, got {type(text).__name__}",
                                       input_name=f"texts[{key}]")
            if self.embeds_contents:
                return self.embedder.build_content_request(text, dimension=self.dimension, task=task, key=key)
            return self.embedder.build_request(contextual_text=text, dimension=self.dimension, key=key)

        return Column("content" if self.embeds_contents else "text", self.space, build)

    def _image_column(self) -> Column:
        def build(item: Any, key: str) -> EmbedRequest:
            if isinstance(item, io.BytesIO):  # LlamaIndex's ImageType is str | BytesIO
                item = item.getvalue()
            if self.embeds_contents:
                # An image is no text: no task instruction applies to it (vertex_mm.content).
                image = coerce_input(as_image, item, "image")
                return self.embedder.build_content_request(image, dimension=self.dimension, key=key)
            return self.embedder.build_request(image=item, dimension=self.dimension, key=key)

        return Column("content" if self.embeds_contents else "image", self.space, build)

    # -- sync --------------------------------------------------------------------------------
    def documents(self, texts: Sequence[str]) -> Vectors:
        return self._run(texts, self._text_column(self.document_task))

    def document(self, text: str) -> list[float]:
        return self._one(text, self._text_column(self.document_task))

    def query(self, text: str) -> list[float]:
        return self._one(text, self._text_column(self.query_task))

    def images(self, items: Sequence[Any]) -> Vectors:
        """Images: paths, ``gs://`` URIs, bytes, ``BytesIO`` or :class:`~vertex_mm.Image`."""
        return self._run(items, self._image_column())

    def image(self, item: Any) -> list[float]:
        return self._one(item, self._image_column())

    # -- async -------------------------------------------------------------------------------
    async def adocuments(self, texts: Sequence[str]) -> Vectors:
        return await self._arun(texts, self._text_column(self.document_task))

    async def adocument(self, text: str) -> list[float]:
        return await self._aone(text, self._text_column(self.document_task))

    async def aquery(self, text: str) -> list[float]:
        return await self._aone(text, self._text_column(self.query_task))

    async def aimages(self, items: Sequence[Any]) -> Vectors:
        """Images are read (and, for remote backends, decoded to fail before the network) in
        worker threads, not on the event loop; then every request goes through the engine."""
        return await self._arun(items, self._image_column(), build_in_thread=True)

    async def aimage(self, item: Any) -> list[float]:
        return await self._aone(item, self._image_column(), build_in_thread=True)

    # -- the engine underneath ---------------------------------------------------------------
    def _results(self, items: Sequence[Any], column: Column) -> list[ItemResult]:
        """Through the engine's stream: each input is read and checked in a worker while earlier
        ones are on the wire (a remote backend decodes every image before sending it)."""
        results: list[Any] = [None] * len(items)

        def keep(index: int, item: Any, result: ItemResult) -> None:
            results[index] = result

        self.embedder.embed_stream(list(enumerate(items)), build=lambda pair: column.build(pair[1], str(pair[0])),
                                   on_result=keep, total=len(items))
        return results

    async def _aresults(self, items: Sequence[Any], column: Column, build_in_thread: bool) -> list[ItemResult]:
        if not build_in_thread:
            return await self.embedder.aembed_many(column.build_all(items))
        # Reading (and decoding) files blocks: in threads, side by side, off the event loop; a
        # few times the requests in flight at a time, so memory follows the concurrency, not
        # the input (all of 120 photos were read before the first was sent: 352 MiB vs 98 sync).
        loop = asyncio.get_running_loop()
        step = max(32, 4 * int(getattr(self.embedder.batch, "concurrency", 1) or 1))
        results: list[ItemResult] = []
        for start in range(0, len(items), step):
            built = list(await asyncio.gather(*(loop.run_in_executor(None, _build_one, column, item, str(start + i))
                                                for i, item in enumerate(items[start:start + step]))))
            results.extend(await self.embedder.aembed_many(built))
        return results

    def _run(self, items: Sequence[Any], column: Column) -> Vectors:
        items = _listed(items)
        return self._vectors(items, column, self._results(items, column) if items else [])

    async def _arun(self, items: Sequence[Any], column: Column, *, build_in_thread: bool = False) -> Vectors:
        items = _listed(items)
        results = await self._aresults(items, column, build_in_thread) if items else []
        return self._vectors(items, column, results)

    def _one(self, item: Any, column: Column) -> list[float]:
        return self._single(column, self._results([item], column))

    async def _aone(self, item: Any, column: Column, *, build_in_thread: bool = False) -> list[float]:
        return self._single(column, await self._aresults([item], column, build_in_thread))

    def _vectors(self, items: list[Any], column: Column, results: list[ItemResult]) -> Vectors:
        result = assemble(results, column.kind, column.space, "collect")
        if result.failed:
            raise FailedInputsError.from_result(result, items) from first_error(result)
        rows: Vectors = np.asarray(result).tolist()
        return rows

    def _single(self, column: Column, results: list[ItemResult]) -> list[float]:
        result = assemble(results, column.kind, column.space, "collect")
        error = first_error(result)
        if error is not None:
            raise error
        row: list[float] = np.asarray(result[0]).tolist()
        return row

    def close(self) -> None:
        """Close the embedder if this adapter made it (a ready one stays its owner's)."""
        if self.owns_embedder:
            self.embedder.close()

    def __repr__(self) -> str:
        tasks = f", query_task={_name(self.query_task)}, document_task={_name(self.document_task)}" \
            if self.embeds_contents else ""
        return f"EmbedderAdapter(backend={self.embedder.backend!r}, space={self.space.id!r}{tasks})"


def _build_one(column: Column, item: Any, key: str) -> EmbedRequest | VertexMMError:
    try:
        return column.build(item, key)
    except VertexMMError as exc:
        return exc


def _name(task: Task | None) -> str | None:
    return task.name if task else None


def _listed(items: Any) -> list[Any]:
    """The inputs of a batch call as a list. One string, path or bytes is refused: iterated, it
    would be one input per character (``embed_documents("abc")``: three vectors) or per byte."""
    if isinstance(items, (str, bytes, bytearray, os.PathLike)):
        shown = repr(items) if len(repr(items)) <= 60 else repr(items)[:59] + "…"
        raise TypeError(f"expected a list of inputs, got one {type(items).__name__} ({shown}); wrap it in a list")
    return list(items)
