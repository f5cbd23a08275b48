"""One embedding space per journal: a resume in another space is refused.

Every journal record carries the ``space`` id of its vector (``backend/model/dimension
[/variant][;task=NAME]``). A run that appends to a journal written in another space (another
backend, model, dimension or task) would leave two models' vectors in one output, and the
"already done" inputs would never be embedded in the new space. :class:`~.writer.Journal`
opened with ``space=`` compares every record's space with it while it scans (records
without one are not compared) and raises :class:`JournalSpaceError`, naming both spaces and
the way out, before anything is written. The task is compared too: a journal is one run's
memory, and its output is labelled with one task.

Spaces are compared by their canonical ids (:func:`canonical_space_id`): a journal written
under another name of the same model (``vertex/multimodalembedding/128``, before the alias
was named by ``multimodalembedding@001``) is the run's space and resumes.
"""

from __future__ import annotations

import pathlib

from ..errors import EmbeddingSpaceMismatchError
from ..results import EmbeddingSpace
from .journal_lock import JournalError

__all__ = ["JournalSpaceError", "canonical_space_id", "check_journal_space"]


class JournalSpaceError(JournalError, EmbeddingSpaceMismatchError):
    """Raised when a journal holds vectors of another embedding space than the run's
    (``found``: space id -> records; ``expected``: the run's space id)."""

    def __init__(self, message: str, *, found: dict[str, int], expected: str) -> None:
        super().__init__(message)
        self.found = found
        self.expected = expected


def check_journal_space(journal: pathlib.Path, found: dict[str, int], expected: str) -> None:
    """Raise :class:`JournalSpaceError` unless every space in ``found`` is ``expected``
    (compared by canonical id; the error names the ids as the journal holds them)."""
    want = canonical_space_id(expected)
    others = {space: n for space, n in found.items() if canonical_space_id(space) != want}
    if not others:
        return
    held = ", ".join(f"{n} in {space!r}" for space, n in sorted(others.items(), key=lambda kv: -kv[1])[:3])
    raise JournalSpaceError(
        f"{journal} already holds vectors of another embedding space ({held}); this run embeds in "
        f"{expected!r}, and vectors of two spaces must not share one output. Run again with the backend, "
        f"dimension and task that wrote it, or write to a new output (or delete {journal} to start over)",
        found=dict(found), expected=expected)


def canonical_space_id(space_id: str) -> str:
    """``space_id`` with its model named by its one id (:class:`~vertex_mm.results.EmbeddingSpace`
    resolves a Vertex alias or resource path); a string that is no space id is kept as it is,
    so it still differs from every real space."""
    try:
        return EmbeddingSpace.from_id(space_id).id
    except ValueError:
        return space_id
