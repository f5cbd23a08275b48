"""Batch embedding at the quota: ordered bounded-concurrency runners (threads and asyncio), a
token-bucket rate limiter, the retry policy, progress, and the engine that puts them together
for an embedder.

Most users never import this package: ``embedder.embed_images(...)`` and friends use it, and
``configure_batch(...)`` (or the backend's constructor) sets its options::

    emb = get_embedder("vertex", project="p", requests_per_minute=600, concurrency=16)
    vecs = emb.embed_images(paths, progress=True)
"""

from .cache import CacheFileError, EmbeddingCache
from .interrupt import BatchInterrupted, NotRunError
from .options import DEFAULT_REQUESTS_PER_MINUTE, REMOTE_DEFAULTS, BatchOptions
from .progress import Progress
from .ratelimit import RateLimiter
from .retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, is_retryable, resolve_retry, wait_backoff, wait_retry_after

__all__ = [
    "BatchInterrupted",
    "BatchOptions",
    "CacheFileError",
    "DEFAULT_REQUESTS_PER_MINUTE",
    "DEFAULT_RETRY",
    "EmbeddingCache",
    "NO_RETRY",
    "NotRunError",
    "Progress",
    "REMOTE_DEFAULTS",
    "RateLimiter",
    "RetryPolicy",
    "is_retryable",
    "resolve_retry",
    "wait_backoff",
    "wait_retry_after",
]
