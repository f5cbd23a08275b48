"""One embedding space per journal: a resume in another space is refused.

Every journal record carries the ``space`` id of its vector (``backend/model/dimension
[/variant][;task=NAME]``). A run that appends to a journal written in another space (another
backend, model, dimension or task) would leave two models' vectors in one output, and the
"already done" inputs would never be embedded in the new space. :class:`~.writer.Journal`
opened with ``space=`` compares every record's space with it while it scans (records
without one are not compared) and raises :class:`JournalSpaceError`, naming both spaces and
the way out, before anything is written. The task is compared too: a journal is one run's
memory, and its output is labelled with one task.
"""

from __future__ import annotations

import pathlib

from ..errors import EmbeddingSpaceMismatchError
from .journal_lock import JournalError

__all__ = ["JournalSpaceError", "check_journal_space"]


class JournalSpaceError(JournalError, EmbeddingSpaceMismatchError):
    """Raised when a journal holds vectors of another embedding space than the run's
    (``found``: space id -> records; ``expected``: the run's space id)."""

    def __init__(self, message: str, *, found: dict[str, int], expected: str) -> None:
        super().__init__(message)
        self.found = found
        self.expected = expected


def check_journal_space(journal: pathlib.Path, found: dict[str, int], expected: str) -> None:
    """Raise :class:`JournalSpaceError` unless every space in ``found`` is ``expected``."""
    others = {space: n for space, n in found.items() if space != expected}
    if not others:
        return
    held = ", ".join(f"{n} in {space!r}" for space, n in sorted(others.items(), key=lambda kv: -kv[1])[:3])
    raise JournalSpaceError(
        f"{journal} already holds vectors of another embedding space ({held}); this run embeds in "
        f"{expected!r}, and vectors of two spaces must not share one output. Run again with the backend, "
        f"dimension and task that wrote it, or write to a new output (or delete {journal} to start over)",
        found=dict(found), expected=expected)
