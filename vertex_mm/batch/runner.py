"""Ordered, bounded-concurrency execution on threads: one result or one typed error per input.

``run_ordered(task, items, concurrency=8)`` runs ``task(item)`` on a pool of worker threads,
pulling items lazily (10^7 inputs never sit in memory at once), and returns the results in
input order. A :class:`~vertex_mm.errors.VertexMMError` raised by a task becomes that item's
result and the batch goes on; any other exception becomes that item's
:class:`~vertex_mm.errors.BackendError` (its ``__cause__`` keeps the traceback).

Results are also handed to ``on_result(index, item, result)`` on the calling thread as they
arrive, so a long job can write each one at once (see :mod:`vertex_mm.jobs`).

Ctrl-C stops cleanly: no new item starts, sleeping retries wake up and give up, the requests
already on the wire finish and are delivered, then :class:`BatchInterrupted` is raised with
every finished result. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from ..errors import BackendError, VertexMMError
from .interrupt import BatchInterrupted, NotRunError, StopRequested
from .progress import Progress

__all__ = ["OnResult", "StopAwareSleep", "request_stop", "run_ordered", "stop_aware_sleep"]

T = TypeVar("T")
OnResult = Callable[[int, Any, Any], None]

# How often the collecting thread looks up from waiting, to notice a stop request.
_POLL_SECONDS = 0.2


class StopAwareSleep:
    """A ``sleep`` for limiters and retries that ends early, raising StopRequested, on ``stop``;
    :meth:`check` raises it at once when stopped (before a new request is sent)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def __call__(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise StopRequested()

    def check(self) -> None:
        if self.stop.is_set():
            raise StopRequested()


def stop_aware_sleep(stop: threading.Event) -> StopAwareSleep:
    """A :class:`StopAwareSleep` on ``stop``."""
    return StopAwareSleep(stop)


def _guarded(task: Callable[[Any], Any], item: Any, stop: threading.Event) -> Any:
    if stop.is_set():
        return NotRunError("the batch was stopped before this input started")
    try:
        return task(item)
    except VertexMMError as exc:
        return exc
    except StopRequested:
        return NotRunError("the batch was stopped while this input waited to be retried")
    except Exception as exc:  # a bug or a backend failure: this input's result, not the batch's end
        return BackendError.wrap(exc)
    except BaseException:
        # KeyboardInterrupt or SystemExit inside a task ends the batch: stop the queued inputs
        # now, before a worker starts the next one, not when the collector gets round to it.
        stop.set()
        raise


class _SigintToStop:
    """While active in the main thread, the first Ctrl-C sets ``stop`` instead of raising, so
    no result is torn between being received and being delivered; the second one raises."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.hit = False
        self._previous: Any = None

    def __enter__(self) -> "_SigintToStop":
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        if in_main:
            _ACTIVE.append(self)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.hit = True
        self.stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: object) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


#: The runs under way in the main thread, for :func:`request_stop`.
_ACTIVE: list[_SigintToStop] = []


def request_stop() -> bool:
    """Stop the runs under way in the main thread as their first Ctrl-C does; for SIGTERM (called
    from its handler, in the main thread). It must not depend on how SIGINT is set: a background
    job of a script starts with SIGINT ignored, no first-Ctrl-C handler is installed then, and
    going through SIGINT dropped the answers in flight. False when no run is under way or each
    was asked already: the caller then interrupts the hard way."""
    fresh = [run for run in _ACTIVE if not run.hit]
    for run in fresh:
        run.hit = True
        run.stop.set()
        if run._previous is not None:  # its first-Ctrl-C handler is in place: the next Ctrl-C raises
            signal.signal(signal.SIGINT, signal.default_int_handler)
    return bool(fresh)


class _Collector:
    """Stores results in order, feeds ``on_result`` and the progress bar, once per index."""

    def __init__(self, keep: bool, on_result: OnResult | None, progress: Progress | None) -> None:
        self.keep = keep
        self.results: list[Any] = []
        self.started = 0
        self.on_result = on_result
        self.progress = progress
        self.completed = 0
        self.not_run = 0

    def slot(self) -> int:
        # Without keep, only a count: a stream of 10^8 inputs must not hold 10^8 list slots.
        if self.keep:
            self.results.append(None)
        self.started += 1
        return self.started - 1

    def interrupted(self) -> BatchInterrupted:
        return BatchInterrupted(self.results, self.completed, started=self.started)

    def deliver(self, index: int, item: Any, result: Any) -> None:
        if self.on_result is not None:
            self.on_result(index, item, result)
        if self.keep:
            self.results[index] = result
        if isinstance(result, NotRunError):
            self.not_run += 1
        else:
            self.completed += 1
            if self.progress is not None:
                self.progress.item_done(not isinstance(result, VertexMMError))


def run_ordered(
    task: Callable[[T], Any],
    items: Iterable[T],
    *,
    concurrency: int = 1,
    on_result: OnResult | None = None,
    keep_results: bool = True,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> list[Any]:
    """Run ``task`` over ``items`` with at most ``concurrency`` in flight; results in input order.

    ``stop`` lets the caller stop the batch from another thread, and lets tasks sleep on it
    (:func:`stop_aware_sleep`). With ``keep_results=False`` results go to ``on_result`` only
    and the returned list (and a :class:`BatchInterrupted`'s ``results``) is empty: streaming
    jobs keep memory flat.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    stop = stop or threading.Event()
    out = _Collector(keep_results, on_result, progress)
    source: Iterator[T] = iter(items)
    pending: dict[Future[Any], tuple[int, T]] = {}
    # Queue a little more than the pool runs, so a worker never waits for the collector.
    window = 2 * concurrency
    exhausted = False
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vertex-mm-batch")

    def submit_more() -> None:
        nonlocal exhausted
        while not exhausted and not stop.is_set() and len(pending) < window:
            try:
                item = next(source)
            except StopIteration:
                exhausted = True
                return
            pending[executor.submit(_guarded, task, item, stop)] = (out.slot(), item)

    def collect(fut: Future[Any]) -> None:
        index, item = pending.pop(fut)
        out.deliver(index, item, fut.result())

    try:
        with _SigintToStop(stop) as sigint:
            try:
                submit_more()
                while pending:
                    done, _ = wait(list(pending), timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for fut in done:
                        collect(fut)
                    submit_more()
            except KeyboardInterrupt:
                # Ctrl-C outside the main thread's handler, or a second Ctrl-C: stop now and
                # report what finished; requests still on the wire are abandoned.
                stop.set()
                _abandon(pending, out)
                raise out.interrupted() from None
            except BaseException:
                stop.set()
                raise
        if stop.is_set() and (not exhausted or out.not_run or sigint.hit):
            raise out.interrupted()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return out.results


def _abandon(pending: dict[Future[Any], tuple[int, Any]], out: _Collector) -> None:
    for fut, (index, item) in list(pending.items()):
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            out.deliver(index, item, fut.result())
        else:
            fut.cancel()
            out.deliver(index, item, NotRunError("the batch was stopped before this input finished"))
    pending.clear()
