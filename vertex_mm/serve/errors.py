"""How the search app answers a query that failed: a status a client or a monitor can act on,
a short message fit for any browser, and the full error in the server's log only.

A bad query is the client's fault (400). Everything else is the server's or the embedding
service's, and is a 5xx or a 429 that a client may retry: the raw messages of those errors name
internal request URLs and the Google Cloud project, so they are logged, never sent.

    400  InputError (and its subclasses) or another ValueError: the query itself; its message is shown
    429  QuotaExceededError: over the project's quota (Retry-After when the service sent one)
    502  the service refused the server's credentials (401/403), does not know the model (404),
         failed (500) or answered something unexpected: the operator must look at the log
    503  ServiceUnavailableError, TransportError (unreachable), NotRunError; shutting down
    504  DeadlineExceededError, or the query ran past the server's budget
    500  anything else (a local model that failed, an index in another space)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from ..errors import (
    APIError,
    DeadlineExceededError,
    EmbeddingSpaceMismatchError,
    InputError,
    NotRunError,
    PermissionDeniedError,
    QuotaExceededError,
    ServiceUnavailableError,
    TransportError,
    UnauthenticatedError,
    VertexMMError,
)

__all__ = ["Failure", "QueryTimeout", "ShuttingDown", "failure_for"]

log = logging.getLogger("vertex_mm.serve")

#: The longest echoed input kept in a 400's message (a 5,000-digit ``k`` is not sent back whole).
MAX_MESSAGE_CHARS = 300


class QueryTimeout(VertexMMError):
    """The query was not answered within the server's budget (:func:`~vertex_mm.serve.app.create_app`'s
    ``query_timeout``)."""


class ShuttingDown(VertexMMError):
    """The server stopped while the query was in flight."""


@dataclass(frozen=True)
class Failure:
    """What the app answers: ``status``, the error's public ``type`` name, a short ``message``."""

    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def failure_for(exc: BaseException) -> Failure:
    """The answer to a query that raised ``exc``; logs what the client is not told."""
    name = type(exc).__name__
    if isinstance(exc, (InputError, ValueError)) and not isinstance(exc, EmbeddingSpaceMismatchError):
        return Failure(400, name, shorten(str(exc)))
    if isinstance(exc, QueryTimeout):
        return Failure(504, name, str(exc))
    if isinstance(exc, ShuttingDown):
        return Failure(503, name, "the server is shutting down; try again once it is back", {"Connection": "close"})
    log.warning("query failed: %s: %s", name, exc)  # the details (URL, project) stay here
    if isinstance(exc, QuotaExceededError):
        wait = _retry_after(exc)
        return Failure(429, name, "the embedding service is over its quota; try again"
                       + (f" in {wait} s" if wait else " shortly"), _retry_header(wait))
    if isinstance(exc, ServiceUnavailableError):
        wait = _retry_after(exc)
        return Failure(503, name, "the embedding service is unavailable; try again shortly", _retry_header(wait))
    if isinstance(exc, TransportError):
        return Failure(503, name, "the embedding service cannot be reached; try again shortly")
    if isinstance(exc, NotRunError):
        return Failure(503, name, "the query was not run; try again")
    if isinstance(exc, DeadlineExceededError):
        return Failure(504, name, "the embedding service did not answer in time; try again")
    if isinstance(exc, (UnauthenticatedError, PermissionDeniedError)):
        # The server's own credentials were refused: nothing the client can fix (so not a 401/403,
        # which would tell it to authenticate); the operator reads the log.
        return Failure(502, name, "the embedding service refused this server's credentials; see the server log")
    if isinstance(exc, APIError):  # 404 (model, project), 500 and what has no class of its own
        return Failure(502, name, "the embedding service failed on this query; see the server log")
    log.error("query failed", exc_info=exc)
    return Failure(500, name, "the search failed on the server; see the server log")


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(exc: APIError) -> int | None:
    after = exc.retry_after
    if after is None or not math.isfinite(after) or after < 0:
        return None
    return max(1, math.ceil(after))  # Retry-After takes whole seconds


def _retry_header(wait: int | None) -> dict[str, str]:
    return {"Retry-After": str(wait)} if wait else {}
