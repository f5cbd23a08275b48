"""The engine's cache seen through one embedder's key function, for one batch call.

The cache is an optimisation: a read that fails is a miss and a write that fails is skipped,
each with one :class:`~vertex_mm.errors.CacheUnavailableWarning` per batch, and the batch goes
on. (A locked sqlite file once turned every vector the service had returned, and billed, into
an error; a read that failed inside the view's lock once hung the whole batch.) Concurrent
callers with the same key share one computation, so a repeated image in a batch is sent once.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from ..errors import CacheUnavailableWarning
from ..results import MultiModalEmbeddingResponse
from ..wire import EmbedRequest

__all__ = ["CacheView"]

#: Runs a blocking call off the event loop (the engine's thread pool) and awaits it.
Offload = Callable[..., Awaitable[Any]]


class CacheView:
    """``cache`` keyed by ``key(request)`` (which adds the embedder's space and endpoint)."""

    def __init__(self, cache: Any, key: Callable[[EmbedRequest], str]) -> None:
        self.cache = cache
        self.key = key
        # Guards the in-flight table only. Never held while the cache is read or written: a
        # read may wait out sqlite's busy timeout, and every worker would wait behind it.
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[Any]] = {}
        self._a_in_flight: dict[str, asyncio.Future[Any]] = {}  # one event loop's, used on it only
        self._warned = False

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
        # No lock: two threads failing at once may both warn, which is harmless; taking the
        # view's lock here deadlocked a read that failed while fetch held it.
        if self._warned:
            return
        self._warned = True
        warnings.warn(f"the embedding cache could not {what} ({type(exc).__name__}: {exc}); going on without it "
                      "(results are returned, not cached)", CacheUnavailableWarning, stacklevel=3)

    def fetch(self, request: EmbedRequest, compute: Callable[[], MultiModalEmbeddingResponse]) -> MultiModalEmbeddingResponse:
        """The cached response, else ``compute()`` stored; concurrent callers with the same key
        share one computation."""
        key = self.key(request)
        hit = self.lookup(key)
        if hit is not None:
            return hit
        with self._lock:
            shared = self._in_flight.get(key)
            if shared is None:
                mine: Future[Any] = Future()
                self._in_flight[key] = mine
        if shared is not None:
            shared_result: MultiModalEmbeddingResponse = shared.result()
            return shared_result
        try:
            # Another caller may have stored this key between the lookup above and our entry
            # in the table (it leaves the table once stored): look again before computing.
            result = self.lookup(key)
            if result is None:
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

    async def afetch(self, request: EmbedRequest, compute: Callable[[], Awaitable[MultiModalEmbeddingResponse]],
                     offload: Offload) -> MultiModalEmbeddingResponse:
        """The coroutine twin of :meth:`fetch`; the cache is read and written through
        ``offload`` (on threads), never on the event loop."""
        key = self.key(request)
        hit: MultiModalEmbeddingResponse | None = await offload(self.lookup, key)
        if hit is not None:
            return hit
        shared = self._a_in_flight.get(key)
        if shared is not None:
            # shield: one sharer cancelled must not cancel the computation the others await.
            shared_result: MultiModalEmbeddingResponse = await asyncio.shield(shared)
            return shared_result
        mine: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Retrieved here, so an error nobody shared is not logged as "never retrieved".
        mine.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._a_in_flight[key] = mine
        try:
            result = await compute()
            await offload(self.store, key, result)
            mine.set_result(result)
            return result
        except asyncio.CancelledError:
            mine.cancel()
            raise
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            del self._a_in_flight[key]

    def get(self, request: EmbedRequest) -> MultiModalEmbeddingResponse | None:
        return self.lookup(self.key(request))

    def put(self, request: EmbedRequest, result: Any) -> None:
        if isinstance(result, MultiModalEmbeddingResponse):
            self.store(self.key(request), result)
