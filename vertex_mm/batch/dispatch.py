"""The batch-running half of :class:`~vertex_mm.embedder.BaseEmbedder`: how its lists, columns
and streams of requests reach the batch engine, in order, one result or one error each.

:class:`~.configured.BatchConfigured` sets the engine up; this mixin drives it. Given a
backend's ``_predict`` (and ``_predict_many`` when it batches inference itself), it runs
requests on the engine's threads or event loop, through the cache, and assembles columns
into :class:`~vertex_mm.results.Embeddings`. Kept apart so the embedder module holds the
public interface and input coercion only; the engine, progress bars and interruption are
imported on the first batch call, not with the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..columns import Column, ErrorMode, ItemResult, assemble, check_error_mode
from ..results import Embeddings, MultiModalEmbeddingResponse
from ..wire import EmbedRequest
from .configured import BatchConfigured

__all__ = ["BatchDispatch"]

T = TypeVar("T")


class BatchDispatch(BatchConfigured):
    """Mixin: batch calls on top of ``_predict`` / ``_predict_many`` (the embedder defines
    ``_predict`` abstract; the members declared for type checking are its)."""

    if TYPE_CHECKING:
        def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse: ...

    def _predict_many(
        self, requests: Sequence[EmbedRequest], *, progress: bool = False
    ) -> list[ItemResult]:
        """Embed many requests, in order, one result or one error each.

        The default runs :meth:`_predict` on the batch engine: ``concurrency`` requests in
        flight under the rate limiter, each retried by the retry policy. Backends that batch
        inference (local models) override this; streams then reach it in ``chunk_size`` chunks.
        """
        from .progress import Progress

        with Progress(len(requests), enabled=progress, desc=f"{self.backend} embed") as bar:
            return self._batch_engine().run(self._predict, requests, progress=bar)

    async def _apredict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        """The coroutine form of :meth:`_predict`: by default, :meth:`_predict` on the engine's
        thread pool, whose retries stop when the coroutine is cancelled. A backend with a
        native async client may override it."""
        return await self._batch_engine().in_thread(self._predict, request)

    def _batches_itself(self) -> bool:
        return type(self)._predict_many is not BatchDispatch._predict_many

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
        from .progress import Progress

        predict_many = (lambda reqs: self._predict_many(reqs)) if self._batches_itself() else None
        bar = progress if isinstance(progress, Progress) else Progress(total, enabled=bool(progress),
                                                                          desc=f"{self.backend} embed")
        try:
            self._batch_engine().stream(items, build=build, on_result=on_result, predict=self._predict,
                                        predict_many=predict_many, cache=self._cache_view(), progress=bar)
        finally:
            if bar is not progress:
                bar.close()

    def _embed_column(self, items: Iterable[Any], column: Column, progress: bool, errors: ErrorMode) -> Embeddings:
        from .interrupt import BatchInterrupted

        check_error_mode(errors)
        try:
            # Every backend through the stream: local models get it in chunk_size chunks, each
            # cached as it finishes, and Ctrl-C keeps the finished chunks (one list call lost them all).
            results = self._stream_list(list(enumerate(items)), lambda pair: column.build(pair[1], str(pair[0])),
                                        progress)
        except BatchInterrupted as exc:
            # Ctrl-C: the finished vectors go to whoever catches the interruption.
            exc.result = assemble(exc.results, column.kind, column.space, "collect")
            raise
        return assemble(results, column.kind, column.space, errors)

    async def _aembed_column(self, items: Iterable[Any], column: Column, progress: bool, errors: ErrorMode) -> Embeddings:
        check_error_mode(errors)
        results = await self._astream_list(list(enumerate(items)), lambda pair: column.build(pair[1], str(pair[0])),
                                           progress)
        return assemble(results, column.kind, column.space, errors)

    async def _astream_list(self, items: list[Any], build: Callable[[Any], EmbedRequest],
                            progress: bool) -> list[ItemResult]:
        """The coroutine twin of :meth:`_stream_list`: inputs are read, checked and looked up
        in the cache on the engine's threads, never on the event loop."""
        engine = self._batch_engine()
        if self._batches_itself():
            # Inference blocks anyway: the whole stream on one pool thread (cancelling stops it
            # before its next chunk).
            return await engine.in_thread(self._stream_list, items, build, progress)
        from .progress import Progress

        with Progress(len(items), enabled=progress, desc=f"{self.backend} embed") as bar:
            return await engine.alist(items, build=build, apredict=self._apredict, cache=self._cache_view(),
                                      progress=bar)

    def _stream_list(self, items: list[Any], build: Callable[[Any], EmbedRequest], progress: bool) -> list[ItemResult]:
        """A list through the engine's stream: inputs are read and checked in the workers while
        earlier ones are on the wire, so a long list never sits in memory as bytes."""
        from .interrupt import BatchInterrupted, NotRunError

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
