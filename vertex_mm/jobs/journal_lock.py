"""One run at a time on a journal: an exclusive advisory lock on ``OUT.lock``.

Two runs appending to one journal would both embed the same inputs and interleave their
lines. :func:`lock_journal` takes ``flock(LOCK_EX | LOCK_NB)`` on the lock file beside the
journal and writes the process id into it; the kernel drops the lock when the process ends,
however it ends (a SIGKILL included), so a stale lock file never blocks the next run. The
file itself is left in place: removing it would let a third run lock a fresh file while a
second still holds the old one.

``flock`` is POSIX; on systems without it runs are not kept apart. It is advisory, and on
network file systems it may not reach other machines: one journal, one machine.
"""

from __future__ import annotations

import os
import pathlib

from ..errors import VertexMMError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["JournalError", "JournalLockedError", "lock_journal", "unlock_journal"]


class JournalError(VertexMMError):
    """Base of the errors of a job's journal file."""


class JournalLockedError(JournalError):
    """Raised when another run (its process id is in the message and in ``pid``) is writing
    the journal."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def lock_journal(lock_path: pathlib.Path, journal: pathlib.Path) -> int:
    """Lock ``lock_path`` for this process; returns its descriptor (keep it open while the run
    writes). Raises :class:`JournalLockedError` when another open file holds the lock."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    if fcntl is None:  # pragma: no cover - Windows
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        who = f"process {pid}" if pid is not None else "another process"
        raise JournalLockedError(
            f"journal {journal} is being written by {who} (lock {lock_path}); wait for that run to "
            "end, or write to another output", pid=pid) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def unlock_journal(fd: int) -> None:
    """Release a lock from :func:`lock_journal` (closing the descriptor releases it)."""
    os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        return int(text) if text.isdigit() else None
    except (OSError, UnicodeDecodeError):
        return None
