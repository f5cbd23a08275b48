"""The threads the late-interaction CPU paths share: one pool, created once, reset in a forked
child; :func:`on_query_threads` hands queries out to it one at a time with torch on one
thread each (the binary rerank, the screened rescoring). The compiled Hamming stage hands
blocks of pages to the same pool (:mod:`.binary`).
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["in_blocks", "on_query_threads", "pool"]

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _forget_pool_after_fork() -> None:
    # A forked child inherits the executor but not its threads: it would wait on them forever.
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()
    # Nor does GNU OpenMP survive a fork once the parent ran a parallel region: the child's
    # first multi-threaded torch product waited forever (multiprocessing forks by default on
    # Linux). One thread in the child is what torch's own DataLoader workers use.
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(1)


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def pool() -> ThreadPoolExecutor:
    """The threads the Hamming stage and the rerank share (created once, under a lock)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2), thread_name_prefix="vertex-mm-hamming")
        return _POOL


def _torch() -> Any:
    """torch, or a MissingDependencyError naming the extra (the late-interaction modules' one loader)."""
    from .._optional import require

    return require("local", "torch", what="the MaxSim scorer")


@functools.cache
def _per_thread_torch_threads() -> bool:
    """Whether torch's thread count is set per calling thread (OpenMP builds): checked once
    by setting it to 1 in a pool thread; where that changed this thread's count too, it is
    put back and reranks run one query after the other."""

    torch = _torch()
    before = torch.get_num_threads()

    def one() -> int:
        torch.set_num_threads(1)
        return int(torch.get_num_threads())

    ok = pool().submit(one).result() == 1 and torch.get_num_threads() == before
    # Set last, by the caller: torch also keeps the last count set as the default that threads
    # created later start with (a server's request threads, say), and that must stay the user's.
    torch.set_num_threads(before)
    return ok


def on_query_threads(n: int, make_work: Callable[[], Callable[[int], None]]) -> None:
    """``work(i)`` for every ``i < n``, handed out one at a time to torch's thread count of
    threads (this one and pool threads), each with torch on one thread (one query alone too) and
    its own ``work = make_work()`` (a rerank buffer, say). Products of one query's 20 tokens by a few dozen
    pages split badly across threads: two queries at once on one thread each took 0.7x the
    time of one after the other on two. torch's count is per calling thread (checked once by
    :func:`_per_thread_torch_threads`) and the caller's is restored."""

    torch = _torch()
    counter = itertools.count()  # next() on a count is atomic under the GIL

    def loop() -> None:
        work = make_work()
        with torch.inference_mode():  # per thread, like torch's thread count
            while (i := next(counter)) < n:
                work(i)

    # Every query's products run on one torch thread, a single query's too: torch's product of a
    # few pages on several threads can give other bits than the scan's (MKL at 3 or more threads,
    # 17-27 rows wide among others), on one thread it gives the scan's (whatever its thread count).
    if int(torch.get_num_threads()) <= 1 or not _per_thread_torch_threads():
        loop()
        return
    threads = min(int(torch.get_num_threads()), n)

    def one_torch_thread() -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            loop()
        finally:
            torch.set_num_threads(before)

    caller_threads = torch.get_num_threads()
    helpers = [pool().submit(one_torch_thread) for _ in range(threads - 1)]
    try:
        one_torch_thread()
    finally:
        for f in helpers:
            f.exception()  # wait for every helper before restoring (result() below raises)
        # Set last, from this thread: torch keeps the last count set, in any thread, as the
        # default that threads created later start with; it must be the caller's, not a helper's 1.
        torch.set_num_threads(caller_threads)
    for f in helpers:
        f.result()


def in_blocks(run: Callable[[int, int], None], n: int, threads: int, block: int) -> None:
    """``run(start, stop)`` over blocks of ``block`` items (pages) on ``threads`` threads (the
    caller's and pool threads; ``run`` should release the GIL, as the compiled kernels do).
    Blocks are handed out one at a time, not split evenly up front: on a shared machine a thread
    the OS sets aside then holds up one block, not its half of the pages, which made two
    threads slower than one."""
    if threads <= 1 or n <= block:
        run(0, n)
        return
    next_block = itertools.count()  # next() on a count is atomic under the GIL

    def work() -> None:
        while (start := next(next_block) * block) < n:
            run(start, min(start + block, n))

    helpers = [pool().submit(work) for _ in range(min(threads, -(-n // block)) - 1)]
    try:
        work()
    finally:
        for f in helpers:
            f.exception()  # every helper done before the caller reads the results
    for f in helpers:
        f.result()
