"""The batch engine of one embedder: its rate limiter, retry policy, cache and thread pool, and
the ways to run requests through them (a list, a stream, or on asyncio).

:class:`~vertex_mm.embedder.BaseEmbedder` owns one engine, built from its
:class:`BatchOptions`. The engine sees the backend only through callables (``predict``,
``apredict``, ``predict_many``), so it imports nothing of the embedder and works for any
backend: remote ones get concurrency under the rate limit with retries; backends that batch
inference themselves (local models) get their ``_predict_many`` fed in chunks.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

from ..errors import BackendError, CacheUnavailableWarning, QuotaExceededError, VertexMMError
from ..results import MultiModalEmbeddingResponse
from ..wire import EmbedRequest
from .aio import arun_ordered
from .interrupt import BatchInterrupted, NotRunError
from .options import BatchOptions
from .progress import Progress
from .ratelimit import RateLimiter
from .runner import OnResult, run_ordered, stop_aware_sleep

__all__ = ["BatchEngine", "CacheView", "acached_dispatch", "cached_dispatch"]

T = TypeVar("T")
Predict = Callable[[EmbedRequest], MultiModalEmbeddingResponse]
APredict = Callable[[EmbedRequest], Awaitable[MultiModalEmbeddingResponse]]
PredictMany = Callable[[Sequence[EmbedRequest]], list[Any]]


class CacheView:
    """The engine's cache seen through one embedder's key function (which adds its space)."""

    def __init__(self, cache: Any, key: Callable[[EmbedRequest], str]) -> None:
        self.cache = cache
        self.key = key
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[Any]] = {}
        self._warned = False

    # The cache is an optimisation: one that cannot be read is a miss, one that cannot be
    # written is skipped, with one warning. Before, a locked sqlite file turned every vector
    # the service had returned (and billed) into an error, and failed an async batch whole.
    def lookup(self, key: str) -> MultiModalEmbeddingResponse | None:
        try:
            hit: MultiModalEmbeddingResponse | None = self.cache.get(key)
        except Exception as exc:
            self._unavailable("read", exc)
            return None
        return hit

    def store(self, key: str, result: MultiModalEmbeddingResponse) -> None:
        try:
            self.cache.put(key, result)
        except Exception as exc:
            self._unavailable("write", exc)

    def _unavailable(self, what: str, exc: Exception) -> None:
        with self._lock:
            first, self._warned = not self._warned, True
        if first:
            warnings.warn(f"the embedding cache could not {what} ({type(exc).__name__}: {exc}); going on without it "
                          "(results are returned, not cached)", CacheUnavailableWarning, stacklevel=2)

    def fetch(self, request: EmbedRequest, compute: Callable[[], MultiModalEmbeddingResponse]) -> MultiModalEmbeddingResponse:
        """The cached response, else ``compute()`` stored; concurrent callers with the same key
        share one computation (a repeated image in a batch is sent once)."""
        key = self.key(request)
        hit = self.lookup(key)
        if hit is not None:
            return hit
        with self._lock:
            shared = self._in_flight.get(key)
            if shared is None:
                # Another caller may have finished this key between the lookup above and now
                # (it leaves the in-flight table once stored): look again before computing.
                hit = self.lookup(key)
                if hit is not None:
                    return hit
                mine: Future[Any] = Future()
                self._in_flight[key] = mine
        if shared is not None:
            shared_result: MultiModalEmbeddingResponse = shared.result()
            return shared_result
        try:
            result = compute()
            self.store(key, result)
            mine.set_result(result)
            return result
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._in_flight[key]

    def get(self, request: EmbedRequest) -> MultiModalEmbeddingResponse | None:
        return self.lookup(self.key(request))

    def put(self, request: EmbedRequest, result: Any) -> None:
        if isinstance(result, MultiModalEmbeddingResponse):
            self.store(self.key(request), result)


# The sleep and progress bar of the input being embedded on this thread, for service_call.
_POLICY: ContextVar[tuple[Callable[[float], None] | None, Progress | None] | None] = ContextVar("_POLICY", default=None)


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
        if _per_service_call(apredict):  # its requests take the policy in service_call, one by one
            return await apredict(request)
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

    async def arun(self, apredict: APredict, requests: Iterable[EmbedRequest], *, progress: Progress | None = None,
                   on_result: OnResult | None = None) -> list[Any]:
        return await arun_ordered(
            lambda req: self.acall(apredict, req, progress=progress),
            requests,
            concurrency=self.options.concurrency,
            on_result=on_result,
            progress=progress,
        )

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
        completed = 0
        try:
            for start, chunk in _chunks(items, self.options.chunk_size):
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
            # Whole chunks were delivered; the chunk in inference is dropped and redone on resume.
            raise BatchInterrupted([], completed) from None

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
        key = cache.key(req)
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
           repeats: dict[int, int], kept: Collection[int] = ()) -> list[Any]:
    for i, result in zip(todo, fresh):
        out[i] = result
        if cache is not None and id(built[i]) not in kept:  # (kept: cached as it arrived)
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


async def acached_dispatch(built: list[Any],
                           apredict_many: Callable[[Sequence[EmbedRequest], OnResult | None], Awaitable[list[Any]]],
                           cache: CacheView | None) -> list[Any]:
    """The coroutine twin of :func:`cached_dispatch`. ``apredict_many(requests, on_result)``
    hands each result to ``on_result`` as it arrives (where it can), which caches it at once:
    a batch cancelled or timed out part way keeps what finished, as the thread path does."""
    out, todo, repeats = _split_cached(built, cache)
    kept: set[int] = set()

    def keep(_index: int, request: Any, result: Any) -> None:
        if cache is not None:
            cache.put(request, result)
            kept.add(id(request))

    fresh = await apredict_many([built[i] for i in todo], keep if cache is not None else None) if todo else []
    return _merge(out, built, todo, fresh, cache, repeats, kept)
