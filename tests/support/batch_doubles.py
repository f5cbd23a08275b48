"""Test doubles for the batch engine and job tests (imported as ``batch_doubles``).

:class:`ScriptedEmbedder` stands at the transport boundary: a real :class:`BaseEmbedder`
whose ``_predict`` sleeps like a network call and answers from a script of typed errors, so
the engine above it (limiter, retries, runners, cache, jobs) runs unmodified.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vertex_mm.embedder import BaseEmbedder
from vertex_mm.results import MultiModalEmbeddingResponse
from vertex_mm.wire import EmbedRequest


def content_key(request: EmbedRequest) -> str:
    if request.text is not None:
        return request.text
    return hashlib.sha256(request.image.data or request.image.gcs_uri.encode()).hexdigest()[:16]


def vector_for(key: str, dimension: int) -> list[float]:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))
    v = rng.standard_normal(dimension)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


class ScriptedEmbedder(BaseEmbedder):
    """``script[key]`` lists what attempts 1, 2, … of that input do: an exception to raise or
    None to answer. Inputs not in the script answer at once. ``latency`` may be a number or a
    function of the key. Counts calls per key and the most calls in flight at once."""

    backend = "test"
    model = "scripted"

    def __init__(self, *, latency: float | Callable[[str], float] = 0.0,
                 script: dict[str, list[BaseException | None]] | None = None,
                 on_call: Callable[[str], None] | None = None, **batch: Any) -> None:
        self.latency = latency
        self.script = script or {}
        self.on_call = on_call
        self.calls: collections.Counter[str] = collections.Counter()
        self.order: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        if batch:
            self.configure_batch(**batch)

    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        key = content_key(request)
        with self._lock:
            attempt = self.calls[key]
            self.calls[key] += 1
            self.order.append(key)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.on_call is not None:
                self.on_call(key)
            delay = self.latency(key) if callable(self.latency) else self.latency
            if delay:
                time.sleep(delay)
            steps = self.script.get(key, [])
            outcome = steps[attempt] if attempt < len(steps) else None
            if outcome is not None:
                raise outcome
            vec = vector_for(key, request.dimension)
            return MultiModalEmbeddingResponse(
                image_embedding=vec if request.image is not None else None,
                text_embedding=vec if request.text is not None else None,
                space=self.space(request.dimension),
            )
        finally:
            with self._lock:
                self.in_flight -= 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class RecordsBatches:
    """Mixin for an embedder double: it batches inference itself (its own ``_predict_many``, as
    the local models do) and records each batch's size in ``batches``."""

    batches: list[int]
    _predict: Any

    def _predict_many(self, requests: Any, *, progress: bool = False) -> list[Any]:
        self.batches.append(len(requests))
        out: list[Any] = []
        for r in requests:
            try:
                out.append(self._predict(r))
            except Exception as exc:  # noqa: BLE001 - typed errors become per-item results
                out.append(exc)
        return out


class BatchingEmbedder(RecordsBatches, ScriptedEmbedder):
    """A backend that batches inference itself, like the local models: records each batch."""

    backend = "test-batching"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.batches = []


class FakeClock:
    """Monotonic time that moves only when someone sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
