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
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

from .batch.configured import BatchConfigured
from .errors import InputError, InvalidImageError, VertexMMError
from .limits import MULTIMODAL_EMBEDDING_001, ModelLimits, check_dimension
from .media import Image, Video, VideoSegmentConfig, as_image, as_video
from .results import Embeddings, EmbeddingSpace, MultiModalEmbeddingResponse
from .wire import EmbedRequest

__all__ = ["BaseEmbedder", "Embedder", "ErrorMode", "ItemResult"]

ErrorMode = Literal["raise", "collect"]
ItemResult = MultiModalEmbeddingResponse | VertexMMError
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


class BaseEmbedder(BatchConfigured, abc.ABC):
    """Implements :class:`Embedder` on top of :meth:`_predict`.

    Batch calls (``embed_images``, ``embed_texts``, ``embed_many``, ``embed_stream`` and the
    ``a…`` coroutines) run through the batch engine configured by :meth:`configure_batch`.
    """

    backend: str = "base"
    model: str = ""
    limits: ModelLimits = MULTIMODAL_EMBEDDING_001
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
            call = functools.partial(self._predict_many, list(requests), progress=progress)
            return await asyncio.get_running_loop().run_in_executor(engine.executor, call)
        from .batch.progress import Progress

        with Progress(len(requests), enabled=progress, desc=f"{self.backend} embed") as bar:
            return await engine.arun(self._apredict, requests, progress=bar)

    def _batches_itself(self) -> bool:
        return type(self)._predict_many is not BaseEmbedder._predict_many

    # -- public interface ----------------------------------------------------------------
    def space(self, dimension: int | None = None) -> EmbeddingSpace:
        dim = check_dimension(dimension, self.limits)
        return EmbeddingSpace(self.backend, self.model, dim, self._space_variant(dim))

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
            image=_coerce(as_image, image, "image"),
            video=_coerce(as_video, video, "video"),
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

    def embed_many(self, requests: Iterable[EmbedRequest | dict[str, Any]], *, progress: bool = False) -> list[ItemResult]:
        """One result or one typed error per request, in input order. Dict requests take the
        ``get_embeddings`` keyword names; invalid ones become per-item errors."""
        if self._batches_itself():
            return self._run(self._build_many(requests), progress=progress)

        def build(r: EmbedRequest | dict[str, Any]) -> EmbedRequest:
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
        return self._embed_column(images, "image", dimension, progress, errors)

    def embed_texts(
        self,
        texts: Iterable[str],
        *,
        dimension: int | None = None,
        progress: bool = False,
        errors: ErrorMode = "raise",
    ) -> Embeddings:
        """Embed texts; same contract as :meth:`embed_images`."""
        return self._embed_column(texts, "text", dimension, progress, errors)

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

    async def aembed_many(self, requests: Iterable[EmbedRequest | dict[str, Any]], *, progress: bool = False) -> list[ItemResult]:
        """The coroutine form of :meth:`embed_many`."""
        return await self._arun(self._build_many(requests), progress=progress)

    async def aembed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                            errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_images`."""
        space, built = self._build_column(images, "image", dimension, errors)
        return _assemble(await self._arun(built, progress=progress), "image", space, errors)

    async def aembed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                           errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_texts`."""
        space, built = self._build_column(texts, "text", dimension, errors)
        return _assemble(await self._arun(built, progress=progress), "text", space, errors)

    # -- helpers -----------------------------------------------------------------------------
    def _build_many(self, requests: Iterable[EmbedRequest | dict[str, Any]]) -> list[EmbedRequest | VertexMMError]:
        built: list[EmbedRequest | VertexMMError] = []
        for r in requests:
            if isinstance(r, EmbedRequest):
                built.append(r)
            else:
                try:
                    built.append(self.build_request(**r))
                except VertexMMError as exc:
                    built.append(exc)
        return built

    def _build_column(self, items: Iterable[Any], kind: str, dimension: int | None,
                      errors: ErrorMode) -> tuple[EmbeddingSpace, list[EmbedRequest | VertexMMError]]:
        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
        space = self.space(dimension)
        built: list[EmbedRequest | VertexMMError] = []
        for i, item in enumerate(items):
            try:
                if kind == "image":
                    built.append(self.build_request(image=item, dimension=space.dimension, key=str(i)))
                else:
                    built.append(self.build_request(contextual_text=item, dimension=space.dimension, key=str(i)))
            except VertexMMError as exc:
                built.append(exc)
        return space, built

    def _embed_column(self, items: Iterable[Any], kind: str, dimension: int | None, progress: bool,
                      errors: ErrorMode) -> Embeddings:
        from .batch.interrupt import BatchInterrupted

        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
        space = self.space(dimension)
        try:
            if self._batches_itself():
                # Local models: the whole list to their batched inference.
                results = self._run(self._build_column(items, kind, dimension, errors)[1], progress=progress)
            else:
                field = "image" if kind == "image" else "contextual_text"

                def build(pair: tuple[int, Any]) -> EmbedRequest:
                    return self.build_request(**{field: pair[1]}, dimension=space.dimension, key=str(pair[0]))

                results = self._stream_list(list(enumerate(items)), build, progress)
        except BatchInterrupted as exc:
            # Ctrl-C: the finished vectors go to whoever catches the interruption.
            exc.result = _assemble(exc.results, kind, space, "collect")
            raise
        return _assemble(results, kind, space, errors)

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


def _assemble(results: Sequence[ItemResult], kind: str, space: EmbeddingSpace, errors: ErrorMode) -> Embeddings:
    vecs = np.full((len(results), space.dimension), np.nan, dtype=np.float32)
    errs: list[VertexMMError | None] = []
    for i, res in enumerate(results):
        if isinstance(res, VertexMMError):
            errs.append(res)
            continue
        vecs[i] = res.image_embedding if kind == "image" else res.text_embedding
        errs.append(None)
    out = Embeddings(vecs, space, errs)
    return out.raise_for_errors() if errors == "raise" else out


def _coerce(fn: Callable[[Any], Any], x: Any, what: str) -> Any:
    if x is None:
        return None
    try:
        return fn(x)
    except VertexMMError:
        raise
    except (OSError, TypeError) as exc:
        name = os.fspath(x) if isinstance(x, (str, os.PathLike)) else type(x).__name__
        cls = InvalidImageError if what == "image" else InputError
        raise cls(f"{name}: cannot read {what}: {exc}", input_name=str(name)) from exc
