"""The ASGI middleware that injects faults into prediction calls and counts them.

Only ``:predict`` and ``:embedContent`` calls see latency, drops, quota and random errors, as
with the service, whose quotas apply to prediction and not to model lookups. Admin routes
(``/emulator/...``) and lookups pass straight through and are not counted.

Dropping a connection needs the socket, which ASGI does not expose: the emulator's uvicorn
protocol (:mod:`.server`) puts ``transport.abort`` into each request's ``scope["state"]``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._server import TrackedSend
from .errors import GoogleAPIException, error_response, retry_after_header, retry_info
from .faults import Decision, FaultInjector, Outcome, Stats
from .models import ALIASES, MODELS

__all__ = ["ABORT_KEY", "FaultMiddleware", "InternalErrorMiddleware", "is_prediction_path"]

log = logging.getLogger("vertex_mm.emulator")

#: Key of the connection-abort callable in ``scope["state"]``.
ABORT_KEY = "vertex_mm.emulator.abort"

_PREDICTION_SUFFIXES = (":predict", ":embedContent")


def is_prediction_path(path: str) -> bool:
    return path.endswith(_PREDICTION_SUFFIXES)


class FaultMiddleware:
    """Applies the :class:`FaultInjector`'s decision to each prediction call and counts the
    answers in :class:`Stats` (before they leave, so a client sees its call counted)."""

    def __init__(self, app: ASGIApp, *, injector: FaultInjector, stats: Stats) -> None:
        self.app = app
        self.injector = injector
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_prediction_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        counted = False

        async def send_and_count(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                self.stats.answered(message["status"])
            await send(message)

        self.stats.started()
        try:
            latency = self.injector.settings.latency
            if latency > 0:
                await asyncio.sleep(latency)
            # A model the emulator does not serve is the route's 404, as the service answers it:
            # it uses no quota and draws no fault (it got a quota 429 before its 404).
            decision = self.injector.decide(_base_model(scope)) if _served(scope) else Decision(Outcome.PASS)
            self.stats.refused(decision.outcome)
            if decision.outcome is Outcome.DROP:
                counted = True
                self.stats.answered(None)
                await _drop_connection(scope, receive)
            elif decision.outcome is Outcome.PASS:
                await self.app(scope, receive, send_and_count)
            else:
                await error_response(_fault_error(decision, scope))(scope, receive, send_and_count)
        finally:
            if not counted:  # an exception before any answer becomes uvicorn's 500
                self.stats.answered(500)
            self.stats.finished()


class InternalErrorMiddleware:
    """Answers an unexpected exception with a 500 in Google's envelope and keeps the connection.

    (Letting it reach the server would make uvicorn close the keep-alive connection after the
    500, and a client's next call on it would fail with a reset.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            # The client went away mid-request (killed, timed out): nobody to answer.
            log.debug("client disconnected while sending %s", scope.get("path"))
        except Exception as exc:
            if tracked.started or scope["type"] != "http":
                raise
            log.exception("internal error in the vertex-mm emulator while serving %s", scope.get("path"))
            message = f"Internal error in the vertex-mm emulator: {type(exc).__name__}: {exc}"
            await error_response(GoogleAPIException(500, message))(scope, receive, send)


def _served(scope: Scope) -> bool:
    """Whether the request's path names a model the emulator serves (an alias included)."""
    model_id = str(scope.get("path", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    return model_id in MODELS or model_id in ALIASES


def _base_model(scope: Scope) -> str:
    """The base model of a request's path (``multimodalembedding@001`` -> ``multimodalembedding``)."""
    model = str(scope.get("path", "")).rsplit("/", 1)[-1].split(":", 1)[0]
    return model.split("@", 1)[0]


def _fault_error(decision: Decision, scope: Scope) -> GoogleAPIException:
    base_model = _base_model(scope)
    if decision.outcome is Outcome.QUOTA:
        return GoogleAPIException(
            429,
            "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base "
            f"model: {base_model}. Please submit a quota increase request. (vertex-mm emulator quota)",
            headers=retry_after_header(decision.retry_after),
            details=[retry_info(decision.retry_after)],
        )
    if decision.outcome is Outcome.RANDOM_429:
        return GoogleAPIException(
            429,
            "Resource exhausted. Please try again later. (vertex-mm emulator: injected fault)",
            headers=retry_after_header(decision.retry_after),
        )
    return GoogleAPIException(
        503,
        "The service is currently unavailable. (vertex-mm emulator: injected fault)",
        headers=retry_after_header(decision.retry_after),
    )


async def _drop_connection(scope: Scope, receive: Receive) -> None:
    state: dict[str, Any] = scope.get("state") or {}
    abort = state.get(ABORT_KEY)
    if abort is None:
        raise RuntimeError("dropping connections needs the emulator's own server (vertex_mm.emulator.run_emulator)")
    abort()
    # Wait until the server has seen the socket close, so it does not try to answer 500 on it.
    try:
        await asyncio.wait_for(_until_disconnect(receive), timeout=2.0)
    except asyncio.TimeoutError:  # pragma: no cover - uvicorn reports a closed transport at once
        pass


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
