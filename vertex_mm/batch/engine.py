"""The batch engine of one embedder: its rate limiter, retry policy, cache and thread pool, and
the ways to run requests through them (a list, a stream, or on asyncio).

:class:`~vertex_mm.embedder.BaseEmbedder` owns one engine, built from its
:class:`BatchOptions`. The engine sees the backend only through callables (``predict``,
``apredict``, ``predict_many``), so it imports nothing of the embedder and works for any
backend: remote ones get concurrency under the rate limit with retries; backends that batch
inference themselves (local models) get their ``_predict_many`` fed in chunks.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

from ..errors import BackendError, QuotaExceededError, VertexMMError
from ..results import MultiModalEmbeddingResponse
from ..wire import EmbedRequest
from .aio import arun_ordered
from .cache_view import CacheView
from .interrupt import BatchInterrupted, NotRunError
from .options import BatchOptions
from .progress import Progress
from .ratelimit import RateLimiter
from .runner import OnResult, StopAwareSleep, run_ordered, stop_aware_sleep

__all__ = ["BatchEngine", "CacheView", "cached_dispatch"]

T = TypeVar("T")
Predict = Callable[[EmbedRequest], MultiModalEmbeddingResponse]
APredict = Callable[[EmbedRequest], Awaitable[MultiModalEmbeddingResponse]]
PredictMany = Callable[[Sequence[EmbedRequest]], list[Any]]


# The sleep and progress bar of the input being embedded on this thread, for service_call.
_POLICY: ContextVar[tuple[Callable[[float], None] | None, Progress | None] | None] = ContextVar("_POLICY", default=None)


def _stop_requested() -> None:
    """Raise StopRequested when the call this thread serves was stopped (see in_thread)."""
    sleep = (_POLICY.get() or (None, None))[0]
    if isinstance(sleep, StopAwareSleep):
        sleep.check()


def _per_service_call(predict: Callable[..., Any]) -> bool:
    return bool(getattr(getattr(predict, "__self__", None), "limits_each_service_call", False))


class BatchEngine:
    """Runs requests under :class:`BatchOptions`. Thread-safe; one per embedder."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        rpm = options.requests_per_minute
        self.limiter = RateLimiter.per_minute(rpm, burst=options.burst_tokens) if rpm else None
        self.retry = options.retry
        self.cache = options.cache
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- one request, under the limiter and the retry policy -----------------------------
    def call(self, predict: Predict, request: EmbedRequest, *, sleep: Callable[[float], None] | None = None,
             progress: Progress | None = None) -> MultiModalEmbeddingResponse:
        """One input under the policy: every attempt waits for a token of the rate limiter.

        A 429 is the server refusing a request without counting it against the quota, so its
        token is given back; every other answer (503 included) is taken to have used quota.

        A backend whose one input may take several service requests (gemini-embedding-2: an
        image and a text, a video's segments) sets ``limits_each_service_call`` and sends each
        through :meth:`service_call`: each request then takes its own token and is retried on
        its own (one token for up to 30 requests overran the quota, and one failed segment
        threw away the segments done before it).
        """
        if _per_service_call(predict):
            token = _POLICY.set((sleep, progress))
            try:
                return predict(request)
            finally:
                _POLICY.reset(token)
        return self._under_policy(lambda: predict(request), sleep, progress)

    def service_call(self, send: Callable[[], T]) -> T:
        """One service request under the limiter and the retry policy, for the backends that
        set ``limits_each_service_call`` (within :meth:`call`, with its interrupt-aware sleep
        and progress bar)."""
        sleep, progress = _POLICY.get() or (None, None)
        return self._under_policy(send, sleep, progress)

    def _under_policy(self, send: Callable[[], T], sleep: Callable[[float], None] | None,
                      progress: Progress | None) -> T:
        kwargs: dict[str, Any] = {"before_sleep": progress.retried if progress else None}
        if sleep is not None:
            kwargs["sleep"] = sleep
        for attempt in self.retry.retrying(**kwargs):
            with attempt:
                if isinstance(sleep, StopAwareSleep):
                    sleep.check()  # a stopped batch sends nothing more (StopRequested is final)
                if self.limiter is None:
                    return send()
                self.limiter.acquire(sleep=sleep)
                try:
                    return send()
                except QuotaExceededError:
                    self.limiter.refund()
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def acall(self, apredict: APredict, request: EmbedRequest, *,
                    progress: Progress | None = None) -> MultiModalEmbeddingResponse:
        """The coroutine twin of :meth:`call`."""
        if _per_service_call(apredict):
            # Its requests take the policy in service_call, one by one, on the thread that
            # in_thread runs it on; the progress bar goes there with them.
            token = _POLICY.set((None, progress))
            try:
                return await apredict(request)
            finally:
                _POLICY.reset(token)
        async for attempt in self.retry.async_retrying(before_sleep=progress.retried if progress else None):
            with attempt:
                if self.limiter is None:
                    return await apredict(request)
                await self.limiter.aacquire()
                try:
                    return await apredict(request)
                except QuotaExceededError:
                    self.limiter.refund()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- many requests -----------------------------------------------------------------------
    def run(self, predict: Predict, requests: Iterable[EmbedRequest], *, progress: Progress | None = None,
            on_result: OnResult | None = None) -> list[Any]:
        """Every request, ``concurrency`` at a time; one result or typed error each, in order."""
        stop = threading.Event()
        sleep = stop_aware_sleep(stop)
        return run_ordered(
            lambda req: self.call(predict, req, sleep=sleep, progress=progress),
            requests,
            concurrency=self.options.concurrency,
            on_result=on_result,
            progress=progress,
            stop=stop,
        )

    async def alist(self, items: Iterable[T], *, build: Callable[[T], EmbedRequest], apredict: APredict,
                    cache: CacheView | None = None, progress: Progress | None = None) -> list[Any]:
        """The coroutine twin of a list through :meth:`stream`: one result or typed error per
        item, in order. Each item is built (read, decode-checked) and looked up in the cache on
        the engine's threads, ``concurrency`` at a time: the event loop never blocks on a file
        or on sqlite, and memory follows the requests in flight, not the input."""

        async def task(item: T) -> Any:
            request = await self.in_thread(build, item)
            if cache is None:
                return await self.acall(apredict, request, progress=progress)
            return await cache.afetch(request, lambda: self.acall(apredict, request, progress=progress),
                                      self.in_thread)

        return await arun_ordered(task, items, concurrency=self.options.concurrency, progress=progress)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the engine's thread pool, awaited.

        A :meth:`service_call` inside it runs under the policy with a sleep that ends when this
        coroutine is cancelled, and with the progress bar of the :meth:`acall` it serves. So
        ``wait_for``, ``task.cancel()`` or Ctrl-C under ``asyncio.run`` stop its retries and
        its next requests (a thread cannot be cancelled: the pool went on retrying for up to
        ``give_up_after`` seconds, spending quota, and the process could not exit meanwhile).
        """
        stop = threading.Event()
        progress = (_POLICY.get() or (None, None))[1]
        context = contextvars.copy_context()
        context.run(_POLICY.set, (StopAwareSleep(stop), progress))
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, functools.partial(context.run, fn, *args))
        except asyncio.CancelledError:
            stop.set()
            raise

    def stream(
        self,
        items: Iterable[T],
        *,
        build: Callable[[T], EmbedRequest],
        on_result: OnResult,
        predict: Predict,
        predict_many: PredictMany | None = None,
        cache: CacheView | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Embed a (possibly endless) stream, handing each result to ``on_result`` as it
        arrives; nothing is kept in memory. ``build`` turns an item into a request inside a
        worker (reading files in parallel); its typed errors become the item's result.

        With ``predict_many`` (a backend that batches inference) items go in chunks of
        ``chunk_size``; otherwise each item flows through the limiter and retries on its own,
        so the pipeline never drains between chunks.
        """
        if predict_many is not None:
            self._stream_chunks(items, build, on_result, predict_many, cache, progress)
            return
        stop = threading.Event()
        sleep = stop_aware_sleep(stop)

        def task(item: T) -> Any:
            request = build(item)
            if cache is None:
                return self.call(predict, request, sleep=sleep, progress=progress)
            return cache.fetch(request, lambda: self.call(predict, request, sleep=sleep, progress=progress))

        run_ordered(task, items, concurrency=self.options.concurrency, on_result=on_result,
                    keep_results=False, progress=progress, stop=stop)

    def _stream_chunks(self, items: Iterable[T], build: Callable[[T], EmbedRequest], on_result: OnResult,
                       predict_many: PredictMany, cache: CacheView | None, progress: Progress | None) -> None:
        completed = started = 0
        try:
            for start, chunk in _chunks(items, self.options.chunk_size):
                _stop_requested()  # run by in_thread for a coroutine that was cancelled
                started = start + len(chunk)
                built: list[Any] = []
                for item in chunk:
                    try:
                        built.append(build(item))
                    except VertexMMError as exc:
                        built.append(exc)
                results = cached_dispatch(built, predict_many, cache)
                for offset, (item, result) in enumerate(zip(chunk, results)):
                    on_result(start + offset, item, result)
                    completed += 1
                    if progress is not None:
                        progress.item_done(not isinstance(result, VertexMMError))
        except KeyboardInterrupt:
            # Whole chunks were delivered (and cached); the chunk in inference is dropped and
            # redone on resume.
            raise BatchInterrupted([], completed, started=started) from None

    # -- the pool that runs blocking backends for coroutines -----------------------------
    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="vertex-mm-async")
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if self.options.owns_cache and self.cache is not None:
            self.cache.close()

    def __repr__(self) -> str:
        o = self.options
        return (f"BatchEngine(concurrency={o.concurrency}, limiter={self.limiter!r}, retry={o.retry.name!r}, "
                f"cache={self.cache!r})")


def _chunks(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T]]]:
    chunk: list[T] = []
    start = 0
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield start, chunk
            start += size
            chunk = []
    if chunk:
        yield start, chunk


def _split_cached(built: list[Any], cache: CacheView | None) -> tuple[list[Any], list[int], dict[int, int]]:
    """Fill cache hits into a copy of ``built``; return it, the indices still to run, and,
    with a cache, each repeated input's index -> the index of its first occurrence (asked once)."""
    out: list[Any] = list(built)
    todo: list[int] = []
    repeats: dict[int, int] = {}
    first: dict[str, int] = {}
    for i, req in enumerate(built):
        if not isinstance(req, EmbedRequest):
            continue
        if cache is None:
            todo.append(i)
            continue
        try:
            key = cache.key(req)
        except VertexMMError as exc:
            # That input's error, not the whole batch's: one bad input never sinks a batch.
            out[i] = exc
            continue
        if key in first:
            repeats[i] = first[key]
            continue
        first[key] = i
        hit = cache.lookup(key)
        if hit is not None:
            out[i] = hit
        else:
            todo.append(i)
    return out, todo, repeats


def _merge(out: list[Any], built: list[Any], todo: list[int], fresh: Sequence[Any], cache: CacheView | None,
           repeats: dict[int, int]) -> list[Any]:
    for i, result in zip(todo, fresh):
        out[i] = result
        if cache is not None:
            cache.put(built[i], result)
    for i, j in repeats.items():
        out[i] = out[j]
    return out


def _interrupted(exc: BatchInterrupted, out: list[Any], built: list[Any], todo: list[int], cache: CacheView | None,
                 repeats: dict[int, int]) -> BatchInterrupted:
    # Keep what finished (in the cache too), mark the rest as not run, in the caller's order.
    fresh = list(exc.results) + [None] * (len(todo) - len(exc.results))
    fresh = [r if r is not None else NotRunError("the batch was stopped before this input ran") for r in fresh]
    exc.results = _merge(out, built, todo, fresh, cache, repeats)
    return exc


def cached_dispatch(built: list[Any], predict_many: PredictMany, cache: CacheView | None) -> list[Any]:
    """Answer what the cache knows, send the rest to ``predict_many``, remember new results.
    With a cache, an input repeated within the batch is asked for once.

    ``built`` holds requests and typed errors (inputs that failed validation); errors pass
    through untouched, in place.
    """
    out, todo, repeats = _split_cached(built, cache)
    try:
        fresh = isolated(predict_many, [built[i] for i in todo]) if todo else []
    except BatchInterrupted as exc:
        raise _interrupted(exc, out, built, todo, cache, repeats) from None
    return _merge(out, built, todo, fresh, cache, repeats)


def isolated(predict_many: PredictMany, requests: Sequence[EmbedRequest]) -> list[Any]:
    """``predict_many(requests)``, or, when that call fails as a whole, each request on its own,
    so that only the guilty inputs carry errors (a typed one, or a
    :class:`~vertex_mm.errors.BackendError` wrapping what was raised)."""
    try:
        results = predict_many(requests)
        if len(results) == len(requests):
            return results
        failure: BaseException = RuntimeError(f"the backend returned {len(results)} results for {len(requests)} inputs")
    except (BatchInterrupted, KeyboardInterrupt):
        raise
    except Exception as exc:
        failure = exc
    if len(requests) == 1:
        return [failure if isinstance(failure, VertexMMError) else BackendError.wrap(failure)]
    return [isolated(predict_many, [r])[0] for r in requests]
