"""The Embedder interface every backend implements, and the base class that gives each
backend the whole interface from one narrow call, ``_predict(request)``.

A backend implements ``_predict`` (one validated :class:`EmbedRequest` in, one
:class:`MultiModalEmbeddingResponse` out) and may override ``_predict_many`` to batch
inference. Everything else (the vision_models call shape, input coercion, per-item errors,
ordering, the embedding space, and the batch engine with its concurrency, rate limit,
retries and cache: :mod:`vertex_mm.batch`) lives here once, with async twins.
"""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from .batch.configured import BatchConfigured
from .columns import Column, ErrorMode, ItemResult, assemble, check_error_mode, coerce_input
from .content import Task, as_parts, resolve_task, warn_file_name_strings
from .errors import UnsupportedInputError, VertexMMError
from .limits import MULTIMODAL_EMBEDDING_001, ModelLimits, check_dimension
from .media import Image, Video, VideoSegmentConfig, as_image, as_video
from .results import Embeddings, EmbeddingSpace, MultiModalEmbeddingResponse
from .wire import EmbedRequest

__all__ = ["BaseEmbedder", "Embedder", "ErrorMode", "ItemResult"]

T = TypeVar("T")


@runtime_checkable
class Embedder(Protocol):
    """What code written against vertex-mm may rely on, whatever the backend."""

    backend: str
    model: str

    def space(self, dimension: int | None = None) -> EmbeddingSpace: ...

    def get_embeddings(
        self,
        image: Image | None = None,
        video: Video | None = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse: ...

    def embed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                     errors: ErrorMode = "raise") -> Embeddings: ...

    def embed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                    errors: ErrorMode = "raise") -> Embeddings: ...

    def embed_many(self, requests: Iterable[EmbedRequest], *, progress: bool = False) -> list[ItemResult]: ...

    async def aembed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                            errors: ErrorMode = "raise") -> Embeddings: ...

    async def aembed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                           errors: ErrorMode = "raise") -> Embeddings: ...

    async def aembed_many(self, requests: Iterable[EmbedRequest], *, progress: bool = False) -> list[ItemResult]: ...

    def embed_content(self, content: Any, *, dimension: int | None = None, task: str | None = None,
                      task_instruction: str | None = None, title: str | None = None) -> np.ndarray: ...

    def embed_contents(self, contents: Iterable[Any], *, dimension: int | None = None, task: str | None = None,
                       task_instruction: str | None = None, progress: bool = False,
                       errors: ErrorMode = "raise") -> Embeddings: ...


class BaseEmbedder(BatchConfigured, abc.ABC):
    """Implements :class:`Embedder` on top of :meth:`_predict`.

    Batch calls (``embed_images``, ``embed_texts``, ``embed_many``, ``embed_stream`` and the
    ``a…`` coroutines) run through the batch engine configured by :meth:`configure_batch`.
    """

    backend: str = "base"
    model: str = ""
    limits: ModelLimits = MULTIMODAL_EMBEDDING_001
    #: The limits that apply to contents (``embed_content``); None: this backend embeds no
    #: contents of several parts (see :meth:`build_content_request`).
    content_limits: ModelLimits | None = None
    #: Whether request building fully decodes images to catch corrupt files early. Backends
    #: that decode anyway (local) skip it; remote ones keep it to fail before the network.
    decode_check: bool = True

    # -- the one call a backend must provide ------------------------------------------
    @abc.abstractmethod
    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        """Embed one validated request. Raise only :class:`VertexMMError` subclasses."""

    def _predict_many(
        self, requests: Sequence[EmbedRequest], *, progress: bool = False
    ) -> list[ItemResult]:
        """Embed many requests, in order, one result or one error each.

        The default runs :meth:`_predict` on the batch engine: ``concurrency`` requests in
        flight under the rate limiter, each retried by the retry policy. Backends that batch
        inference (local models) override this; streams then reach it in ``chunk_size`` chunks.
        """
        from .batch.progress import Progress

        with Progress(len(requests), enabled=progress, desc=f"{self.backend} embed") as bar:
            return self._batch_engine().run(self._predict, requests, progress=bar)

    async def _apredict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        """The coroutine form of :meth:`_predict`: by default, :meth:`_predict` on the engine's
        thread pool. A backend with a native async client may override it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._batch_engine().executor, self._predict, request)

    async def _apredict_many(self, requests: Sequence[EmbedRequest], *, progress: bool = False) -> list[ItemResult]:
        """The coroutine form of :meth:`_predict_many`."""
        engine = self._batch_engine()
        if self._batches_itself():
            from .batch.engine import isolated

            many = functools.partial(self._predict_many, progress=progress)
            call = functools.partial(isolated, many, list(requests))
            return await asyncio.get_running_loop().run_in_executor(engine.executor, call)
        from .batch.progress import Progress

        with Progress(len(requests), enabled=progress, desc=f"{self.backend} embed") as bar:
            return await engine.arun(self._apredict, requests, progress=bar)

    def _batches_itself(self) -> bool:
        return type(self)._predict_many is not BaseEmbedder._predict_many

    # -- public interface ----------------------------------------------------------------
    def space(self, dimension: int | None = None) -> EmbeddingSpace:
        """The space of :meth:`get_embeddings`, :meth:`embed_images` and :meth:`embed_texts`."""
        dim = check_dimension(dimension, self.limits)
        return EmbeddingSpace(self.backend, self.model, dim, self._space_variant(dim))

    def content_space(self, dimension: int | None = None, *, task: str | Task | None = None,
                      task_instruction: str | None = None) -> EmbeddingSpace:
        """The space of :meth:`embed_content` / :meth:`embed_contents` vectors; it records the
        task (which does not separate spaces: queries and documents meet in one)."""
        limits = self.content_limits or self.limits
        dim = check_dimension(dimension, limits)
        resolved = resolve_task(task, task_instruction)
        space = EmbeddingSpace(self.backend, self.model, dim, self._space_variant(dim))
        return space.with_task(resolved.name if resolved else None)

    def _space_variant(self, dimension: int) -> str:
        return ""

    def build_request(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
        *,
        key: str | None = None,
    ) -> EmbedRequest:
        """Coerce and validate one request (raises a typed :class:`InputError`)."""
        return EmbedRequest.create(
            image=coerce_input(as_image, image, "image"),
            video=coerce_input(as_video, video, "video"),
            contextual_text=contextual_text,
            dimension=dimension,
            video_segment_config=video_segment_config,
            limits=self.limits,
            key=key,
            decode_check=self.decode_check,
        )

    def get_embeddings(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse:
        """The ``vertexai.vision_models.MultiModalEmbeddingModel.get_embeddings`` call shape:
        one request, one attempt (batch calls add rate limiting and retries)."""
        return self._predict(self.build_request(image, video, contextual_text, dimension, video_segment_config))

    def embed_many(self, requests: Iterable[EmbedRequest | dict[str, Any] | VertexMMError], *,
                   progress: bool = False) -> list[ItemResult]:
        """One result or one typed error per request, in input order. Dict requests take the
        ``get_embeddings`` keyword names; invalid ones become per-item errors, and an error
        given in place of a request (a request that could not be built) is that item's result."""
        if self._batches_itself():
            return self._run(self._build_many(requests), progress=progress)

        def build(r: EmbedRequest | dict[str, Any] | VertexMMError) -> EmbedRequest:
            if isinstance(r, VertexMMError):
                raise r
            return r if isinstance(r, EmbedRequest) else self.build_request(**r)

        return self._stream_list(list(requests), build, progress)

    def embed_images(
        self,
        images: Iterable[Any],
        *,
        dimension: int | None = None,
        progress: bool = False,
        errors: ErrorMode = "raise",
    ) -> Embeddings:
        """Embed images (paths, gs:// URIs, bytes or Image) into an (n, dimension) float32 array.

        Every input is tried. With ``errors="raise"`` a :class:`~vertex_mm.errors.BatchError`
        carrying all finished vectors is raised at the end if any failed; with
        ``errors="collect"`` failed rows are NaN and ``result.errors[i]`` says why. Ctrl-C
        raises :class:`~vertex_mm.batch.BatchInterrupted` whose ``result`` holds the vectors
        finished so far.
        """
        return self._embed_column(images, self._image_column(dimension), progress, errors)

    def embed_texts(
        self,
        texts: Iterable[str],
        *,
        dimension: int | None = None,
        progress: bool = False,
        errors: ErrorMode = "raise",
    ) -> Embeddings:
        """Embed texts; same contract as :meth:`embed_images`."""
        return self._embed_column(texts, self._text_column(dimension), progress, errors)

    # -- contents (gemini-embedding-2's shape: ordered parts, one vector) ---------------------
    def build_content_request(self, content: Any, *, dimension: int | None = None, task: str | Task | None = None,
                              task_instruction: str | None = None, title: str | None = None,
                              key: str | None = None, audio_track_extraction: bool = False) -> EmbedRequest:
        """Coerce and validate one content (a part or a list of parts, see
        :mod:`vertex_mm.content`) into a request; raises a typed :class:`InputError`."""
        if self.content_limits is None:
            raise UnsupportedInputError(
                f"the {self.backend} backend ({self.model}) does not embed contents; use get_embedder('gemini') "
                "or get_embedder('local')", input_name="content")
        return EmbedRequest.create_content(
            as_parts(content), limits=self.content_limits, dimension=dimension,
            task=resolve_task(task, task_instruction), title=title, key=key, decode_check=self.decode_check,
            audio_track_extraction=audio_track_extraction)

    def embed_content(self, content: Any, *, dimension: int | None = None, task: str | Task | None = None,
                      task_instruction: str | None = None, title: str | None = None) -> np.ndarray:
        """ONE float32 unit vector for one content: all its parts (text, images, a PDF, a
        video, an audio clip, in order) together. ``task`` is a preset of
        :data:`vertex_mm.content.TASKS` (``retrieval_query``, ``retrieval_document``...),
        ``task_instruction`` a free-form one, ``title`` the document title of
        ``retrieval_document``. One attempt; batches add rate limiting and retries."""
        warn_file_name_strings(content if isinstance(content, (list, tuple)) else [content], call="embed_content")
        request = self.build_content_request(content, dimension=dimension, task=task,
                                             task_instruction=task_instruction, title=title)
        row = assemble([self._predict(request)], "content", self.content_space(request.dimension),
                       "raise")
        return np.asarray(row[0], dtype=np.float32)

    def embed_contents(self, contents: Iterable[Any], *, dimension: int | None = None, task: str | Task | None = None,
                       task_instruction: str | None = None, progress: bool = False,
                       errors: ErrorMode = "raise") -> Embeddings:
        """One vector per content, in input order: each item of ``contents`` is one content
        (a part, or a list of parts), sent on its own, never merged with another: a list of
        strings gives one vector per string. Same contract as :meth:`embed_images`."""
        contents = list(contents)
        warn_file_name_strings(contents)
        return self._embed_column(contents, self._content_column(dimension, task, task_instruction), progress, errors)

    def embed_stream(
        self,
        items: Iterable[T],
        *,
        build: Callable[[T], EmbedRequest],
        on_result: Callable[[int, T, ItemResult], None],
        progress: Any = False,
        total: int | None = None,
    ) -> None:
        """Embed a stream too long to hold in memory; what resumable jobs run on.

        ``build(item)`` makes each request inside a worker (files are read in parallel; its
        typed errors become the item's result) and ``on_result(index, item, result)``
        receives each result as it arrives, on the calling thread. ``progress`` is a bool or
        a :class:`~vertex_mm.batch.Progress` the caller keeps. Ctrl-C raises
        :class:`~vertex_mm.batch.BatchInterrupted` once the requests in flight are delivered.
        """
        from .batch.progress import Progress

        predict_many = (lambda reqs: self._predict_many(reqs)) if self._batches_itself() else None
        bar = progress if isinstance(progress, Progress) else Progress(total, enabled=bool(progress),
                                                                          desc=f"{self.backend} embed")
        try:
            self._batch_engine().stream(items, build=build, on_result=on_result, predict=self._predict,
                                        predict_many=predict_many, cache=self._cache_view(), progress=bar)
        finally:
            if bar is not progress:
                bar.close()

    # -- async twins -------------------------------------------------------------------------
    async def aget_embeddings(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse:
        """The coroutine form of :meth:`get_embeddings`."""
        return await self._apredict(self.build_request(image, video, contextual_text, dimension, video_segment_config))

    async def aembed_many(self, requests: Iterable[EmbedRequest | dict[str, Any] | VertexMMError], *,
                          progress: bool = False) -> list[ItemResult]:
        """The coroutine form of :meth:`embed_many`."""
        return await self._arun(self._build_many(requests), progress=progress)

    async def aembed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                            errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_images`."""
        return await self._aembed_column(images, self._image_column(dimension), progress, errors)

    async def aembed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                           errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_texts`."""
        return await self._aembed_column(texts, self._text_column(dimension), progress, errors)

    async def aembed_content(self, content: Any, *, dimension: int | None = None, task: str | Task | None = None,
                             task_instruction: str | None = None, title: str | None = None) -> np.ndarray:
        """The coroutine form of :meth:`embed_content`."""
        warn_file_name_strings(content if isinstance(content, (list, tuple)) else [content], call="aembed_content")
        request = self.build_content_request(content, dimension=dimension, task=task,
                                             task_instruction=task_instruction, title=title)
        row = assemble([await self._apredict(request)], "content", self.content_space(request.dimension), "raise")
        return np.asarray(row[0], dtype=np.float32)

    async def aembed_contents(self, contents: Iterable[Any], *, dimension: int | None = None,
                              task: str | Task | None = None, task_instruction: str | None = None,
                              progress: bool = False, errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_contents`."""
        contents = list(contents)
        warn_file_name_strings(contents, call="aembed_contents")
        column = self._content_column(dimension, task, task_instruction)
        return await self._aembed_column(contents, column, progress, errors)

    # -- helpers -----------------------------------------------------------------------------
    def _build_many(self, requests: Iterable[EmbedRequest | dict[str, Any] | VertexMMError]
                    ) -> list[EmbedRequest | VertexMMError]:
        built: list[EmbedRequest | VertexMMError] = []
        for r in requests:
            if isinstance(r, (EmbedRequest, VertexMMError)):
                built.append(r)
            else:
                try:
                    built.append(self.build_request(**r))
                except VertexMMError as exc:
                    built.append(exc)
        return built

    def _image_column(self, dimension: int | None) -> Column:
        space = self.space(dimension)
        return Column("image", space, lambda item, key: self.build_request(image=item, dimension=space.dimension, key=key))

    def _text_column(self, dimension: int | None) -> Column:
        space = self.space(dimension)
        return Column("text", space,
                      lambda item, key: self.build_request(contextual_text=item, dimension=space.dimension, key=key))

    def _content_column(self, dimension: int | None, task: str | Task | None, task_instruction: str | None) -> Column:
        resolved = resolve_task(task, task_instruction)
        space = self.content_space(dimension, task=resolved)
        return Column("content", space, lambda item, key: self.build_content_request(
            item, dimension=space.dimension, task=resolved, key=key))

    def _embed_column(self, items: Iterable[Any], column: Column, progress: bool, errors: ErrorMode) -> Embeddings:
        from .batch.interrupt import BatchInterrupted

        check_error_mode(errors)
        try:
            if self._batches_itself():
                # Local models: the whole list to their batched inference.
                results = self._run(column.build_all(list(items)), progress=progress)
            else:
                results = self._stream_list(list(enumerate(items)), lambda pair: column.build(pair[1], str(pair[0])),
                                            progress)
        except BatchInterrupted as exc:
            # Ctrl-C: the finished vectors go to whoever catches the interruption.
            exc.result = assemble(exc.results, column.kind, column.space, "collect")
            raise
        return assemble(results, column.kind, column.space, errors)

    async def _aembed_column(self, items: Iterable[Any], column: Column, progress: bool, errors: ErrorMode) -> Embeddings:
        check_error_mode(errors)
        results = await self._arun(column.build_all(list(items)), progress=progress)
        return assemble(results, column.kind, column.space, errors)

    def _stream_list(self, items: list[Any], build: Callable[[Any], EmbedRequest], progress: bool) -> list[ItemResult]:
        """A list through the engine's stream: inputs are read and checked in the workers while
        earlier ones are on the wire, so a long list never sits in memory as bytes."""
        from .batch.interrupt import BatchInterrupted, NotRunError

        results: list[Any] = [None] * len(items)

        def keep(index: int, item: Any, result: ItemResult) -> None:
            results[index] = result

        try:
            self.embed_stream(items, build=build, on_result=keep, progress=progress, total=len(items))
        except BatchInterrupted as exc:
            exc.results = [r if r is not None else NotRunError("the batch was stopped before this input ran")
                           for r in results]
            raise
        return results

    def _run(self, built: list[EmbedRequest | VertexMMError], *, progress: bool) -> list[ItemResult]:
        from .batch.engine import cached_dispatch

        return cached_dispatch(built, lambda todo: self._predict_many(todo, progress=progress), self._cache_view())

    async def _arun(self, built: list[EmbedRequest | VertexMMError], *, progress: bool) -> list[ItemResult]:
        from .batch.engine import acached_dispatch

        return await acached_dispatch(built, lambda todo: self._apredict_many(todo, progress=progress), self._cache_view())

    def close(self) -> None:
        """Release connections, models and the batch thread pool. Safe to call twice.
        Subclasses that override it call ``super().close()``."""
        self._close_batch_engine()

    def __enter__(self) -> "BaseEmbedder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, model={self.model!r})"


