"""The search web app: a query box, an image upload and a results grid over one index.

Routes::

    GET  /                      the search page
    GET  /search?q=a+cat&k=10   results for a text query (a shareable link)
    POST /search                multipart form: q (text) or image (file), k
    GET  /thumb/{id}            a thumbnail of an indexed photo (only ids the index holds)
    GET  /api/search?q=…&k=…    the same results as JSON
    GET  /healthz               {"status": "ok", "count": …, "space": …}

Embedding, search and image decoding run in the thread pool, so the event loop stays
responsive. Nothing here binds a socket: :mod:`vertex_mm._server` does, on 127.0.0.1 unless
told otherwise.

Safe by default: a request body over :data:`MAX_UPLOAD_BYTES` (plus the form's own bytes) is
refused with 413 as soon as that is known (one file per form); only the ``Host`` names in
``allowed_hosts`` are answered (a page on another site cannot reach the local server by
DNS rebinding); and answers name photos by their ids, never by their paths on this machine.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .._server import LimitBody
from ..errors import EmbeddingSpaceMismatchError, InputError, VertexMMError
from ..index.base import BaseIndex
from ..index.build import _describe, _writes_to, embed_query
from ..index.results import Hit
from .budget import DEFAULT_QUERY_TIMEOUT
from .errors import QueryTimeout, ShuttingDown, failure_for, shorten
from .render import MAX_K, QuerySection, search_page, thumbnail_data_uri, thumbnail_jpeg

__all__ = ["create_app"]

MAX_UPLOAD_BYTES = 30 * 1024 * 1024  # above any image limit the embedders accept
_FORM_OVERHEAD = 64 * 1024  # the other fields and the multipart boundaries
_THUMB_CACHE = 512
#: The Host names answered by default: this machine's. Add others with ``allowed_hosts``.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
#: Metadata keys never shown to a browser: where files sit on this machine.
_PRIVATE_METADATA = frozenset({"path"})


def create_app(index: BaseIndex, embedder: Any, *, title: str = "vertex-mm photo search", default_k: int = 10,
               allowed_hosts: Sequence[str] | str = LOOPBACK_HOSTS,
               query_timeout: float | None = DEFAULT_QUERY_TIMEOUT) -> Starlette:
    """A Starlette app answering text and image queries against ``index`` with ``embedder``,
    which must embed into the index's space (else :class:`EmbeddingSpaceMismatchError`, now; see
    :func:`vertex_mm.index.build.embedder_for_index`). ``allowed_hosts`` are the ``Host`` names
    answered (``"*"``: any). A query not answered within ``query_timeout`` seconds (None: no
    limit) is a 504; give a remote embedder :func:`vertex_mm.serve.budget.interactive_options`
    so that its retries fit in that time. Embedders that declare ``thread_safe = True`` (the
    vertex and gemini ones) answer queries in parallel; others one at a time."""
    if isinstance(default_k, bool) or not isinstance(default_k, int) or not 1 <= default_k <= MAX_K:
        # The page's k field and every request without one would be refused (or above the cap).
        raise ValueError(f"default_k must be an integer from 1 to {MAX_K}, got {default_k!r}")
    if query_timeout is not None and not query_timeout > 0:
        raise ValueError(f"query_timeout must be more than 0 seconds (or None), got {query_timeout!r}")
    if isinstance(allowed_hosts, str):  # one name, not its characters
        allowed_hosts = (allowed_hosts,)
    _check_space(index, embedder)
    info = f"{len(index)} photos · embedding space {index.space.id} · exact cosine similarity" \
        if index.backend == "flat" else f"{len(index)} photos · embedding space {index.space.id} · {index.backend}"

    def source_path(id_: str) -> str | None:
        # An index migrated from `vertex-mm embed LIST.txt` output has absolute-path ids and no
        # "path" metadata: the id is where the photo is.
        path = index.metadata(id_).get("path")
        return str(path) if path else (id_ if Path(id_).is_absolute() else None)

    @functools.lru_cache(maxsize=_THUMB_CACHE)
    def thumb_bytes(id_: str) -> bytes:
        path = source_path(id_)
        if path is None:
            raise FileNotFoundError(f"no file for id {id_!r}")
        return thumbnail_jpeg(path)

    def thumb_src(hit: Hit) -> str:
        from urllib.parse import quote

        return "/thumb/" + quote(hit.id)

    # Requests run on a thread pool; an embedder that does not declare itself thread-safe
    # (a local torch model, say) sees one call at a time.
    embed_lock = None if getattr(embedder, "thread_safe", False) else threading.Lock()
    in_flight = InFlight()

    def run_query(text: str | None, image: bytes | None, k: int, deadline: float) -> list[Hit]:
        # A query given up on (504) must not run later for nobody: behind the lock, a burst of
        # abandoned queries kept the model busy, and every new query timed out behind them.
        with in_flight:
            if embed_lock is None:
                vec = embed_query(embedder, index.space, text=text, image=image)
            else:
                wait = deadline - time.monotonic()
                if not embed_lock.acquire(timeout=-1 if wait == math.inf else max(0.0, wait)):
                    raise QueryTimeout("given up before its turn")
                try:
                    if time.monotonic() >= deadline:
                        raise QueryTimeout("given up before its turn")
                    vec = embed_query(embedder, index.space, text=text, image=image)
                finally:
                    embed_lock.release()
            return index.search(vec, k=k)[0]

    async def answer(text: str | None, image: bytes | None, k: int) -> list[Hit]:
        """``run_query`` on a worker thread, given up after ``query_timeout`` s or at shutdown
        (the thread goes on to its end, bounded by the embedder's own retry budget)."""
        try:
            with anyio.fail_after(query_timeout):
                deadline = math.inf if query_timeout is None else time.monotonic() + query_timeout
                return await anyio.to_thread.run_sync(run_query, text, image, k, deadline, abandon_on_cancel=True)
        except TimeoutError:
            raise QueryTimeout(f"the query was not answered within {query_timeout:g} s (the embedding "
                               "service is slow or busy); try again") from None
        except asyncio.CancelledError:
            # uvicorn cancels what is still running once its graceful shutdown time is up: answer
            # 503 rather than a 500 with a traceback. Acknowledged, so the answer can be sent.
            task = asyncio.current_task()
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
            raise ShuttingDown("the server is shutting down") from None

    async def home(request: Request) -> Response:
        return HTMLResponse(search_page(title=title, info=info, k=default_k))

    async def search(request: Request) -> Response:
        text, image, k = None, None, default_k
        try:
            if request.method == "POST":
                # The form closes its spooled upload files when the block ends.
                async with request.form(max_files=1, max_fields=8, max_part_size=MAX_UPLOAD_BYTES) as form:
                    text = _text(form.get("q"))
                    k = _k(form.get("k"), default_k)
                    upload = form.get("image")
                    if upload is not None and hasattr(upload, "read") and getattr(upload, "filename", None):
                        image = await upload.read()
                        if not image:
                            raise InputError("the uploaded image file is empty")
            else:
                text = _text(request.query_params.get("q"))
                k = _k(request.query_params.get("k"), default_k)
            if image is not None:
                label = f"[image] {getattr(upload, 'filename', None) or 'upload'}"
                text = None  # an uploaded image wins: it is the more specific query
            elif text:
                label = text
            else:
                raise InputError("type a query or choose an image")
            hits = await answer(text, image, k)
        except (VertexMMError, ValueError) as exc:
            failure = failure_for(exc)
            page = search_page(title=title, info=info, query=text or "", k=k, error=failure.message)
            return HTMLResponse(page, status_code=failure.status, headers=failure.headers)
        query_thumb = await run_in_threadpool(_query_thumb, image) if image is not None else None
        section = QuerySection(label, hits, query_thumb)
        return HTMLResponse(search_page(title=title, info=info, query=text or "", k=k, section=section, thumb_src=thumb_src))

    async def api_search(request: Request) -> Response:
        try:
            text = _text(request.query_params.get("q"))
            if not text:
                raise InputError("query parameter q is required")
            k = _k(request.query_params.get("k"), default_k)
            hits = await answer(text, None, k)
        except (VertexMMError, ValueError) as exc:
            failure = failure_for(exc)
            return JSONResponse({"error": {"type": failure.type, "message": failure.message}},
                                status_code=failure.status, headers=failure.headers)
        return JSONResponse({
            "query": text,
            "space": index.space.id,
            "hits": [{"id": h.id, "score": h.score, "metadata": _public(h.metadata)} for h in hits],
        })

    async def thumb(request: Request) -> Response:
        id_ = request.path_params["id"]
        if id_ not in index:
            return Response("unknown id", status_code=404, media_type="text/plain")
        path = source_path(id_)
        if not path or not Path(path).is_file():
            return Response("the indexed file is no longer on disk", status_code=404, media_type="text/plain")
        try:
            data = await run_in_threadpool(thumb_bytes, id_)
        except (OSError, VertexMMError):  # unreadable, not an image, or over the pixel cap
            return Response("the indexed file cannot be read as an image", status_code=404, media_type="text/plain")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "count": len(index), "space": index.space.id})

    routes = [
        Route("/", home),
        Route("/search", search, methods=["GET", "POST"]),
        Route("/api/search", api_search),
        Route("/thumb/{id:path}", thumb),
        Route("/healthz", healthz),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
        Middleware(LimitBody, max_bytes=MAX_UPLOAD_BYTES + _FORM_OVERHEAD),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.index = index
    app.state.embedder = embedder
    app.state.in_flight = in_flight
    return app


class InFlight:
    """Counts the queries running on worker threads (a query given up on by its request runs
    on): whoever closes the embedder waits for :meth:`wait_idle` first."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no query runs; False if one still does after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


def _check_space(index: BaseIndex, embedder: Any) -> None:
    """Refuse at construction an embedder whose queries land in another space than the index's:
    it would answer every query with an error while /healthz said all was well."""
    got = _writes_to(embedder, index.space)
    if got != index.space:
        raise EmbeddingSpaceMismatchError(
            f"the embedder ({embedder.backend}) embeds queries into {_describe(got)} but the index holds "
            f"{index.space.id!r}; use the model that built the index (vertex_mm.index.build.embedder_for_index)")


def _public(metadata: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(metadata).items() if k not in _PRIVATE_METADATA}


def _query_thumb(image: bytes) -> str | None:
    """The uploaded query image, shown above its results (it embedded, so it decodes)."""
    try:
        return thumbnail_data_uri(image, side=160)
    except (OSError, VertexMMError):
        return None


def _text(value: Any) -> str | None:
    if value is None or not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _k(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise InputError(f"k must be a whole number, got {shorten(repr(value), 40)}", input_name="k") from None
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, got {shorten(str(k), 40)}", input_name="k")
    return k
