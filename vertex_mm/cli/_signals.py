"""SIGTERM handled as Ctrl-C by the long-running commands (embed, migrate).

``docker stop``, ``kubectl delete pod``, ``timeout`` and systemd end a process with SIGTERM. Its
default action kills the process outright: requests in flight, already answered and paid for,
were lost, and no summary said what was left. Handled like Ctrl-C, the run stops the way the
batch runner's first Ctrl-C stops it (what is in flight finishes and is journalled) and exits
143 (128 + SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["SIGTERM_EXIT", "sigterm_as_interrupt"]

SIGTERM_EXIT = 128 + int(signal.SIGTERM)


@contextlib.contextmanager
def sigterm_as_interrupt(got: list[int]) -> Iterator[None]:
    """While inside, SIGTERM does what Ctrl-C does at that moment and is appended to ``got``
    (so the caller can exit 143, not 130). Main thread only; the previous handler comes back
    after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        from ..batch.runner import request_stop

        got.append(signum)
        # A batch run under way stops as at its first Ctrl-C: the requests in flight, already
        # paid for, finish and are journalled. Asked directly, not through SIGINT's handler,
        # which a process started with SIGINT ignored (a script's background job) never got.
        if request_stop():
            return
        # Otherwise (or at a second SIGTERM) whatever Ctrl-C does at this moment.
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
