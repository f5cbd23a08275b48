"""How an embedder runs batches: concurrency, rate limit, retries, cache. One frozen value.

Remote backends start from :data:`REMOTE_DEFAULTS` (rate limited to the documented base quota,
retried with the default policy); local backends from the plain defaults (one at a time, no
limit, no retry). Options are given to the backend's constructor or to
``embedder.configure_batch(...)``::

    emb = get_embedder("vertex", project="p", requests_per_minute=600, concurrency=16,
                       cache="~/.cache/vertex-mm/embeddings.sqlite")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, resolve_retry

__all__ = ["BATCH_OPTION_NAMES", "BatchOptions", "DEFAULT_REQUESTS_PER_MINUTE", "REMOTE_DEFAULTS"]

#: The client-side rate limit when none is given: 120 requests per minute. Vertex AI's base
#: quota for ``multimodalembedding`` online prediction is 120 to 600 requests per minute per
#: project and region, depending on the region; 120 is the floor, so a fresh project sees at
#: most a stray 429 at the default: the bucket starts full (``burst``, one second's worth),
#: so the first minute may start 122 requests, and a 429 is retried with its token given back.
#: Raise it to your project's quota (Cloud console, IAM & Admin > Quotas) with
#: ``requests_per_minute=`` or ``vertex-mm embed --rpm``; ``burst=1`` spaces requests evenly.
DEFAULT_REQUESTS_PER_MINUTE = 120.0

#: Defaults for backends that call a remote API with a per-minute quota. Ten in flight keep
#: 600 requests/minute busy at up to a second of latency, and match the HTTP connection pool.
REMOTE_DEFAULTS: Mapping[str, Any] = {
    "requests_per_minute": DEFAULT_REQUESTS_PER_MINUTE,
    "concurrency": 10,
    "retry": DEFAULT_RETRY,
}


@dataclass(frozen=True)
class BatchOptions:
    """``requests_per_minute``: client-side limit (None: unlimited); ``burst``: requests that
    may start at once after a quiet spell (None: one second's worth, as Guava's
    ``RateLimiter`` stores; a per-minute quota then sees at most 1/60 more in its first
    minute; 1: evenly spaced always); ``concurrency``: requests in
    flight; ``retry``: a :class:`RetryPolicy`, a policy name (``"default"``, ``"none"``) or a
    number of attempts; ``cache``: an :class:`~vertex_mm.batch.cache.EmbeddingCache` or the
    path of its sqlite file (None: no cache); ``chunk_size``: inputs per call for backends
    that batch inference themselves (local models)."""

    requests_per_minute: float | None = None
    burst: float | None = None
    concurrency: int = 1
    retry: RetryPolicy = NO_RETRY
    cache: Any = None
    chunk_size: int = 64
    #: Whether the engine opened ``cache`` itself (from a path) and so closes it with itself.
    owns_cache: bool = False

    def __post_init__(self) -> None:
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise ValueError(f"requests_per_minute must be > 0 (or None for no limit), got {self.requests_per_minute!r}")
        if self.burst is not None and not self.burst >= 1:
            raise ValueError(f"burst must be >= 1, got {self.burst!r}")
        if int(self.concurrency) != self.concurrency or self.concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {self.concurrency!r}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size!r}")

    @property
    def burst_tokens(self) -> float:
        """The limiter's bucket size in requests."""
        if self.burst is not None:
            return float(self.burst)
        return max(1.0, (self.requests_per_minute or 60.0) / 60.0)

    @classmethod
    def build(cls, defaults: Mapping[str, Any] | None = None, **options: Any) -> "BatchOptions":
        """Merge ``options`` over ``defaults``; unknown names raise ``TypeError`` naming them."""
        known = {f.name for f in fields(cls)} - {"owns_cache"}
        merged = {**(defaults or {}), **options}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise TypeError(f"unknown batch option(s) {unknown}; known: {sorted(known)}")
        if "retry" in merged:
            merged["retry"] = resolve_retry(merged["retry"])
        if merged.get("cache") is not None:
            merged["owns_cache"] = isinstance(merged["cache"], (str, os.PathLike))
            merged["cache"] = _open_cache(merged["cache"])
        if merged.get("requests_per_minute") is not None:
            merged["requests_per_minute"] = float(merged["requests_per_minute"])
        return cls(**merged)


#: The names :meth:`BatchOptions.build` (``configure_batch``) takes.
BATCH_OPTION_NAMES = frozenset(f.name for f in fields(BatchOptions)) - {"owns_cache"}


def _open_cache(cache: Any) -> Any:
    if isinstance(cache, (str, os.PathLike)):
        from .cache import EmbeddingCache

        return EmbeddingCache(cache)
    for method in ("get", "put"):
        if not callable(getattr(cache, method, None)):
            raise TypeError(f"cache must be a path or an EmbeddingCache, got {type(cache).__name__}")
    return cache
