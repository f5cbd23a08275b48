"""The asyncio twin of :mod:`vertex_mm.batch.runner`: the same contract on one event loop.

``await arun_ordered(task, items, concurrency=8)`` runs the coroutine function ``task`` over
``items`` with at most ``concurrency`` in flight and returns results in input order, one
result or one typed error each. ``on_result`` sees each result as it arrives.

Cancellation (Ctrl-C under ``asyncio.run``, or ``task.cancel()``) is asyncio's: the workers
are cancelled and ``CancelledError`` propagates; requests the engine sends from its threads
send nothing more and stop retrying (``BatchEngine.in_thread``). Finished work is not lost: it
was already handed to ``on_result`` (and to the cache, when the embedder has one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ..errors import BackendError, VertexMMError
from .progress import Progress
from .runner import OnResult

__all__ = ["arun_ordered"]

T = TypeVar("T")


async def arun_ordered(
    task: Callable[[T], Awaitable[Any]],
    items: Iterable[T],
    *,
    concurrency: int = 1,
    on_result: OnResult | None = None,
    keep_results: bool = True,
    progress: Progress | None = None,
) -> list[Any]:
    """Run ``task`` over ``items`` with at most ``concurrency`` coroutines in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    source = enumerate(items)
    results: list[Any] = []

    async def worker() -> None:
        # Each worker pulls the next item itself: the input is read lazily, in order.
        for index, item in source:
            if keep_results:
                results.extend([None] * (index + 1 - len(results)))
            try:
                result = await task(item)
            except VertexMMError as exc:
                result = exc
            except Exception as exc:  # the input's result, not the batch's end (see runner.py)
                result = BackendError.wrap(exc)
            if on_result is not None:
                on_result(index, item, result)
            if keep_results:
                results[index] = result
            if progress is not None:
                progress.item_done(not isinstance(result, VertexMMError))

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return results
