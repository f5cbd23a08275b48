"""What embedding a source would cost, before anything is sent (``vertex-mm embed --dry-run``).

:func:`check_images` is the same pre-flight for an image run on a backend without a price
table (vertex, local): which inputs are left, and which would fail and why.

Reads every content file of the source that the output does not hold yet (local files are
measured: PDF pages, audio and video seconds), builds its request with the same checks as a
run, and adds it to a :class:`~vertex_mm.pricing.CostEstimate`. Files that would fail are
listed with their reasons, not priced.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from ..errors import VertexMMError
from ..pricing import CostEstimate
from .contents import CONTENT_EXTENSIONS, load_content
from .journal_space import check_journal_space
from .resume import ResumeSet
from .sources import iter_source
from .writer import JournalStats, read_journal

__all__ = ["check_images", "estimate_source"]


def estimate_source(embedder: Any, source: str | os.PathLike[str], *, journal: str | os.PathLike[str] | None = None,
                    dimension: int | None = None, task: str | None = None,
                    extensions: frozenset[str] = CONTENT_EXTENSIONS,
                    storage_client: Any = None) -> tuple[CostEstimate, list[str]]:
    """``(estimate, failures)`` for the inputs of ``source`` not yet in ``journal``: each
    failure is ``"ID: ErrorType: message"``, the form a run's report quotes.

    A journal of another embedding space than this run's is refused
    (:class:`~vertex_mm.jobs.JournalSpaceError`), as the run itself would refuse it."""
    done = _done(journal, embedder.content_space(dimension, task=task).id)
    estimate = CostEstimate()
    failures: list[str] = []
    for item in iter_source(source, storage_client=storage_client, extensions=extensions):
        try:
            part, content_hash = load_content(item)
            if done.matches(item.id, content_hash):
                continue
            estimate.add(embedder.build_content_request(part, dimension=dimension, task=task, key=item.id))
        except VertexMMError as exc:
            failures.append(f"{item.id}: {type(exc).__name__}: {exc}")
    return estimate, failures


def check_images(embedder: Any, source: str | os.PathLike[str], *, journal: str | os.PathLike[str] | None = None,
                 dimension: int | None = None, extensions: frozenset[str],
                 storage_client: Any = None) -> tuple[int, list[str]]:
    """``(pending, failures)`` for the images of ``source`` not yet in ``journal``: how many a
    run would send, and ``"ID: ErrorType: message"`` for each that would fail before sending
    (the checks of a run: unreadable, too large, not an image, not decodable)."""
    from .sources import load_item

    done = _done(journal, embedder.space(dimension).id)
    pending = 0
    failures: list[str] = []
    for item in iter_source(source, storage_client=storage_client, extensions=extensions):
        try:
            image, content_hash = load_item(item)
            if done.matches(item.id, content_hash):
                continue
            embedder.build_request(image=image, dimension=dimension, key=item.id)
            pending += 1
        except VertexMMError as exc:
            failures.append(f"{item.id}: {type(exc).__name__}: {exc}")
    return pending, failures


def _done(journal: str | os.PathLike[str] | None, space_id: str) -> ResumeSet:
    """What ``journal`` holds; one of another embedding space than this run's is refused
    (:class:`~vertex_mm.jobs.JournalSpaceError`), as the run itself would refuse it."""
    if journal is None or not pathlib.Path(journal).exists():
        return ResumeSet()
    stats = JournalStats()
    done = ResumeSet.from_pairs((r["id"], str(r.get("content_hash") or "")) for r in read_journal(journal, stats))
    check_journal_space(pathlib.Path(journal), stats.spaces, space_id)
    return done
