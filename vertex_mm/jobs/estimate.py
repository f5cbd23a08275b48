"""What embedding a source would cost, before anything is sent (``vertex-mm embed --dry-run``).

:func:`check_source` is the same pre-flight on a backend without a price table (vertex, local,
hashed): which inputs are left, and which would fail and why.

Reads every file of the source that the output does not hold yet (local files are measured:
PDF pages, audio and video seconds), builds its request with the same checks as a run, and
adds it to a :class:`~vertex_mm.pricing.CostEstimate`. Files that would fail are listed with
their reasons, not priced.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

from ..errors import VertexMMError
from ..limits import check_image_bytes
from ..media import Image
from ..pricing import CostEstimate
from .contents import content_extensions_for, extensions_for, load_content
from .journal_space import check_journal_space
from .resume import ResumeSet
from .sources import iter_source, load_item
from .writer import JournalStats, read_journal

__all__ = ["check_source", "estimate_source"]


def estimate_source(embedder: Any, source: str | os.PathLike[str], *, journal: str | os.PathLike[str] | None = None,
                    dimension: int | None = None, task: str | None = None,
                    extensions: frozenset[str] | None = None,
                    storage_client: Any = None,
                    passed_over: Callable[[str], None] | None = None) -> tuple[CostEstimate, list[str]]:
    """``(estimate, failures)`` for the inputs of ``source`` not yet in ``journal``: each
    failure is ``"ID: ErrorType: message"``, the form a run's report quotes. ``extensions``:
    the file endings taken (default: the contents the model reads, as a run takes them);
    ``passed_over`` is told of each file left out for its format (:class:`.sources.LeftOut`).

    A journal of another embedding space than this run's is refused
    (:class:`~vertex_mm.jobs.JournalSpaceError`), as the run itself would refuse it."""
    done = _done(journal, embedder.content_space(dimension, task=task).id)
    estimate = CostEstimate()
    failures: list[str] = []
    if extensions is None:
        extensions = content_extensions_for(embedder)
    for item in iter_source(source, storage_client=storage_client, extensions=extensions, passed_over=passed_over):
        try:
            part, content_hash = load_content(item)
            if done.matches(item.id, content_hash):
                continue
            estimate.add(embedder.build_content_request(part, dimension=dimension, task=task, key=item.id))
            _decode_check(embedder, part, embedder.content_limits)
        except VertexMMError as exc:
            failures.append(f"{item.id}: {type(exc).__name__}: {exc}")
    return estimate, failures


def check_source(embedder: Any, source: str | os.PathLike[str], *, journal: str | os.PathLike[str] | None = None,
                 dimension: int | None = None, task: str | None = None, contents: bool = False,
                 extensions: frozenset[str] | None = None, storage_client: Any = None,
                 passed_over: Callable[[str], None] | None = None) -> tuple[int, list[str]]:
    """``(pending, failures)`` for the inputs of ``source`` not yet in ``journal``: how many a
    run would send, and ``"ID: ErrorType: message"`` for each that would fail before it is
    embedded (the checks of a run: unreadable, too large, not of a format the model reads, not
    decodable). ``contents``: the inputs are contents (``run_job(contents=True)``), else images;
    ``extensions``: the file endings taken (default: those the model reads, as a run takes them);
    ``passed_over`` is told of each file left out for its format (:class:`.sources.LeftOut`)."""
    space = embedder.content_space(dimension, task=task) if contents else embedder.space(dimension)
    done = _done(journal, space.id)
    pending = 0
    failures: list[str] = []
    if extensions is None:
        extensions = extensions_for(embedder, contents=contents)
    part: Any
    for item in iter_source(source, storage_client=storage_client, extensions=extensions, passed_over=passed_over):
        try:
            if contents:
                part, content_hash = load_content(item)
            else:
                part, content_hash = load_item(item)
            if done.matches(item.id, content_hash):
                continue
            if contents:
                embedder.build_content_request(part, dimension=dimension, task=task, key=item.id)
            else:
                embedder.build_request(image=part, dimension=dimension, key=item.id)
            _decode_check(embedder, part, embedder.content_limits if contents else embedder.limits)
            pending += 1
        except VertexMMError as exc:
            failures.append(f"{item.id}: {type(exc).__name__}: {exc}")
    return pending, failures


def _decode_check(embedder: Any, part: Any, limits: Any) -> None:
    """Decode an image the request builder did not: a backend that decodes when it embeds (local)
    skips the builder's check, so its run fails a truncated JPEG that its dry run passed. The
    check decodes JPEGs at 1/8 scale (every coded byte read at a fraction of the cost)."""
    if getattr(embedder, "decode_check", True) or not isinstance(part, Image) or part.data is None:
        return
    check_image_bytes(part.data, limits, name=part.name or "image", decode=True)


def _done(journal: str | os.PathLike[str] | None, space_id: str) -> ResumeSet:
    """What ``journal`` holds; one of another embedding space than this run's is refused
    (:class:`~vertex_mm.jobs.JournalSpaceError`), as the run itself would refuse it."""
    if journal is None or not pathlib.Path(journal).exists():
        return ResumeSet()
    stats = JournalStats()
    done = ResumeSet.from_pairs((r["id"], str(r.get("content_hash") or "")) for r in read_journal(journal, stats))
    check_journal_space(pathlib.Path(journal), stats.spaces, space_id)
    return done
