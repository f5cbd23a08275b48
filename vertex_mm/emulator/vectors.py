"""Where the emulator's vectors come from: the real local backend when it is installed, else
:class:`~vertex_mm.testing.hashed.HashedEmbedder` (deterministic, meaningless vectors).

The backend is resolved on first use, not at start-up, so an emulator starts in well under a
second even when the first request then has to load a model.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..embedder import BaseEmbedder
from ..errors import VertexMMError
from ..limits import ModelLimits
from ..results import MultiModalEmbeddingResponse
from ..wire import EmbedRequest
from .settings import BackendName

__all__ = ["VectorService"]

log = logging.getLogger("vertex_mm.emulator")


def _local_embedder() -> BaseEmbedder:
    from ..registry import get_embedder

    return get_embedder("local")


def _hashed_embedder() -> BaseEmbedder:
    from ..testing import HashedEmbedder

    return HashedEmbedder()


class VectorService:
    """Turns validated requests into vectors with one embedder.

    ``embedder`` wins over ``backend``. With ``backend="auto"`` the local backend is used if
    it imports and finds its weights, else the hashed one (the reason is logged and shown
    in ``GET /emulator/info``). Embedders that do not declare ``thread_safe = True`` are
    called under a lock.
    """

    def __init__(
        self,
        embedder: BaseEmbedder | None = None,
        *,
        backend: BackendName = "auto",
        local_factory: Callable[[], BaseEmbedder] = _local_embedder,
    ) -> None:
        # Hashed vectors cost nothing to set up: no reason to wait for the first request.
        self._embedder = embedder if embedder is not None or backend != "hashed" else _hashed_embedder()
        self._backend = backend
        self._local_factory = local_factory
        self._resolve_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self.fallback_reason: str | None = None

    @property
    def backend_name(self) -> str:
        """The backend in use (``"pending"`` before the first request resolved it)."""
        if self._embedder is None:
            return "pending"
        return getattr(self._embedder, "backend", type(self._embedder).__name__)

    def resolve(self) -> BaseEmbedder:
        if self._embedder is not None:
            return self._embedder
        with self._resolve_lock:
            if self._embedder is None:
                self._embedder = self._create()
        return self._embedder

    def _create(self) -> BaseEmbedder:
        if self._backend == "hashed":
            return _hashed_embedder()
        if self._backend == "local":
            return self._local_factory()
        try:
            return self._local_factory()
        except (ImportError, OSError, VertexMMError) as exc:  # MissingDependencyError, WeightsNotFoundError
            self.fallback_reason = f"{type(exc).__name__}: {exc}"
            log.warning("local backend unavailable (%s); serving hashed vectors, which carry no meaning", exc)
            return _hashed_embedder()

    # -- multimodalembedding@001 ---------------------------------------------------------
    def predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        """Separate image / text / video-segment vectors at the request's dimension."""
        return self._call(self.resolve(), request)

    # -- gemini-embedding-2 ---------------------------------------------------------------
    def embed_content(self, request: EmbedRequest) -> np.ndarray:
        """One vector for the whole content, as Gemini returns, from the backend's own content
        path (:meth:`~vertex_mm.BaseEmbedder.embed_content` semantics).

        Parts of a kind the backend has no model for (audio, offline) get hashed vectors, which
        carry no meaning; the content vector is then the part-count-weighted, normalised mean of
        the backend's vector of the other parts and the hashed one. A backend that cannot
        produce the requested dimension is asked for the largest one it offers below it; the
        vector is then zero-padded (which keeps every cosine similarity) or truncated.
        """
        assert request.content is not None
        embedder = self.resolve()
        if getattr(embedder, "content_limits", None) is None:
            embedder = _hashed_embedder()
        kinds = getattr(embedder, "content_kinds", None)
        own = [p for p in request.content if kinds is None or p.kind in kinds]
        foreign = [p for p in request.content if kinds is not None and p.kind not in kinds]
        groups: list[tuple[int, np.ndarray]] = []
        if own:
            groups.append((len(own), self._content_vector(embedder, request, tuple(own))))
        if foreign:
            groups.append((len(foreign), self._content_vector(_hashed_embedder(), request, tuple(foreign))))
        weights = np.asarray([n for n, _ in groups], dtype=np.float64)
        fused = _unit(np.average(np.stack([v for _, v in groups]), axis=0, weights=weights))
        return _fit(fused, request.dimension).astype(np.float32)

    def _content_vector(self, embedder: BaseEmbedder, request: EmbedRequest, parts: tuple[Any, ...]) -> np.ndarray:
        limits = embedder.content_limits or embedder.limits
        inner_dim = request.dimension if limits.allows_dimension(request.dimension) else _nearest(limits, request.dimension)
        inner = dataclasses.replace(request, content=parts, dimension=inner_dim)
        response = self._call(embedder, inner)
        if response.content_embedding is None:
            raise VertexMMError(f"the {embedder.backend} backend returned no content vector")
        return _unit(np.asarray(response.content_embedding, dtype=np.float64))

    def _call(self, embedder: BaseEmbedder, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        # ``_predict`` is the one call every backend implements. The emulator answers one request
        # at a time, so the client-side batch engine (rate limit, retries) must not sit in between.
        if getattr(embedder, "thread_safe", False):
            return embedder._predict(request)
        with self._call_lock:
            return embedder._predict(request)


def _nearest(limits: ModelLimits, wanted: int) -> int:
    below = [d for d in limits.dimensions if d <= wanted]
    return max(below) if below else min(limits.dimensions)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _fit(v: np.ndarray, dimension: int) -> np.ndarray:
    if v.shape[0] < dimension:
        v = np.concatenate([v, np.zeros(dimension - v.shape[0])])
    return _unit(v[:dimension])
