"""The batch-configuration half of :class:`~vertex_mm.embedder.BaseEmbedder`: its options, its
engine, and the cache key that keeps embedding spaces apart.

Kept apart so the embedder module stays about embedding; everything heavy (tenacity, sqlite,
threads) is imported on the first batch call, not with the package.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..wire import EmbedRequest
    from .engine import BatchEngine, CacheView
    from .options import BatchOptions

__all__ = ["BatchConfigured"]

_ENGINE_LOCK = threading.Lock()


class BatchConfigured:
    """Mixin: ``configure_batch(**options)`` and the lazily built :class:`BatchEngine`."""

    #: Where a backend's batch options start (see :class:`~vertex_mm.batch.BatchOptions`).
    #: Empty: one request at a time, no rate limit, no retry (right for local models).
    #: Remote backends set :data:`~vertex_mm.batch.REMOTE_DEFAULTS`.
    batch_defaults: ClassVar[Mapping[str, Any]] = {}
    #: True where one input may take several service requests, each sent through the engine's
    #: ``service_call`` so that each takes its own rate-limit token and retry (BatchEngine.call).
    limits_each_service_call: ClassVar[bool] = False

    backend: str
    model: str

    def configure_batch(self, **options: Any) -> Any:
        """Set how batch calls run, over the backend's defaults and earlier settings; returns self.

        ``requests_per_minute``: the client-side token bucket, set it to your project's quota
        (remote default 120); ``burst``; ``concurrency``: requests in flight; ``retry``:
        ``"default"``, ``"none"``, a number of attempts or a
        :class:`~vertex_mm.batch.RetryPolicy`; ``cache``: path of an sqlite file or an
        :class:`~vertex_mm.jobs.EmbeddingCache`; ``chunk_size``: inputs per call for backends
        that batch inference. Unknown names raise ``TypeError``.
        """
        from .engine import BatchEngine
        from .options import BatchOptions

        merged = {**self._batch_overrides(), **options}
        engine = BatchEngine(BatchOptions.build(self.batch_defaults, **merged))
        with _ENGINE_LOCK:
            old = self.__dict__.get("_batch_engine_")
            self.__dict__["_batch_set_"] = merged
            self.__dict__["_batch_engine_"] = engine
        if old is not None:
            old.close()
        return self

    @property
    def batch(self) -> "BatchOptions":
        """The batch options in force (change them with :meth:`configure_batch`)."""
        return self._batch_engine().options

    def _batch_overrides(self) -> dict[str, Any]:
        if "_batch_set_" in self.__dict__:
            return dict(self.__dict__["_batch_set_"])
        # A backend may keep its constructor's batch keywords in ``self.batch_options``.
        declared = self.__dict__.get("batch_options")
        return dict(declared) if isinstance(declared, Mapping) else {}

    def _batch_engine(self) -> "BatchEngine":
        engine: BatchEngine | None = self.__dict__.get("_batch_engine_")
        if engine is not None:
            return engine
        from .engine import BatchEngine
        from .options import BatchOptions

        with _ENGINE_LOCK:
            engine = self.__dict__.get("_batch_engine_")
            if engine is None:
                engine = BatchEngine(BatchOptions.build(self.batch_defaults, **self._batch_overrides()))
                self.__dict__["_batch_engine_"] = engine
        return engine

    def _close_batch_engine(self) -> None:
        engine = self.__dict__.get("_batch_engine_")
        if engine is not None:
            engine.close()

    # -- the cache key -----------------------------------------------------------------------
    def _cache_scope(self) -> str:
        """Text that separates this backend's cache entries from another's with the same model
        name; the Vertex backend returns its endpoint (the emulator is not Google)."""
        return ""

    def _cache_key(self, request: "EmbedRequest") -> str:
        # A content is embedded in the content space, whose dimensions (3072, 768...) differ
        # from those of the image/text space on backends with two (local, hashed): asking the
        # image/text space for a content's dimension raised for every cached content. The task
        # is left out of the space (it does not separate spaces); request.cache_key holds it.
        if request.is_content:
            space = self.content_space(request.dimension).id  # type: ignore[attr-defined]
        else:
            space = self.space(request.dimension).id  # type: ignore[attr-defined]
        material = "\x00".join((request.cache_key(self.model), space, self._cache_scope()))
        return hashlib.sha256(material.encode()).hexdigest()

    def _cache_view(self) -> "CacheView | None":
        cache = self._batch_engine().cache
        if cache is None:
            return None
        from .engine import CacheView

        return CacheView(cache, self._cache_key)
