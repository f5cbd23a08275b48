"""The time one search query may take on a server, and the embedder settings that keep a remote
backend within it.

A remote embedder's defaults suit batch jobs: up to 8 attempts over up to 15 minutes, waits of up
to a minute (5 with Retry-After), 60 s per request. A person waiting on a search page, or a client
of the JSON API, has given up long before; so a server gives each query ``budget`` seconds,
retries included, and answers 503/504 when the service does not come back within them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..batch.retry import RetryPolicy

__all__ = ["DEFAULT_QUERY_TIMEOUT", "REMOTE_BACKENDS", "interactive_options", "interactive_retry"]

#: Seconds a query may take by default (``vertex-mm serve --query-timeout``).
DEFAULT_QUERY_TIMEOUT = 20.0
#: The backends that call a service (and so take a request timeout and a retry policy).
REMOTE_BACKENDS = ("vertex", "gemini")
_MAX_ATTEMPTS = 3
_MAX_WAIT = 1.0  # between attempts, Retry-After included: a longer wait would not fit a request
_SLACK = 1.0  # for the rate limiter's turn and connecting, so the embedder's own error comes first


def interactive_retry(budget: float) -> "RetryPolicy":
    """At most 3 attempts, waits of at most a second, and no new attempt after about half of
    ``budget`` seconds (the attempt then started has the other half, its request timeout)."""
    from ..batch.retry import RetryPolicy  # tenacity: not imported by the command line's parser

    request_timeout = _request_timeout(budget)
    return RetryPolicy(name="interactive", max_attempts=_MAX_ATTEMPTS, initial_backoff=0.25, max_backoff=_MAX_WAIT,
                       max_retry_after=_MAX_WAIT, give_up_after=max(0.0, budget - request_timeout - _MAX_WAIT - _SLACK))


def interactive_options(backend: str, budget: float = DEFAULT_QUERY_TIMEOUT) -> dict[str, Any]:
    """``get_embedder`` options that fit one query of ``backend`` into ``budget`` seconds: the
    retry policy and the per-request timeout (local backends run on this machine: none)."""
    if not budget > 0:
        raise ValueError(f"the query budget must be more than 0 seconds, got {budget!r}")
    if backend not in REMOTE_BACKENDS:
        return {}
    return {"retry": interactive_retry(budget), "timeout": _request_timeout(budget)}


def _request_timeout(budget: float) -> float:
    return max(1.0, budget / 2)
