"""Retrieval quality of an embedder on a folder of photos: text -> image, image -> image and
near-duplicate -> original, as hit rate@k (success@k), recall@k and MRR.

>>> from vertex_mm import get_embedder
>>> from vertex_mm.evaluation import evaluate_images, load_queries, sample_eval_queries_path
>>> from vertex_mm.sample_data import sample_photos_dir
>>> report = evaluate_images(get_embedder("local"), sample_photos_dir(),
...                          queries=load_queries(sample_eval_queries_path()))    # doctest: +SKIP
>>> report.scores["text"].hit[5]                                                    # doctest: +SKIP

Every photo of the folder (recursively; ids are paths relative to it) is embedded once and
each query is ranked against all of them by cosine similarity, exactly, so the scores are not
blurred by an approximate index. Files used as queries (image queries, near-duplicates) are
left out of the gallery even when they lie inside the folder. A query that fails to embed
counts as a miss and a photo that fails is left out (both are listed in the report); nothing
is silently dropped from the denominators.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..index.build import find_images
from ..results import EmbeddingSpace
from .metrics import RetrievalScores, first_relevant_rank, score_rankings
from .queries import EvalQuery, NearDuplicate

__all__ = ["ImageEvalReport", "QueryOutcome", "evaluate_images"]

TASKS = ("text", "image", "neardup")  # report order


@dataclass(frozen=True)
class QueryOutcome:
    """How one query fared: the rank of its first relevant photo (None: not found or failed)
    and the top of its ranking."""

    task: str  # "text", "image" or "neardup"
    label: str
    relevant: tuple[str, ...]
    rank: int | None
    top: tuple[str, ...]
    error: str | None = None
    transform: str = ""


@dataclass
class ImageEvalReport:
    """Scores per task (only tasks that had queries), every query's outcome, and the photos
    that could not be embedded (``skipped``: id -> reason)."""

    space: EmbeddingSpace
    n_images: int
    ks: tuple[int, ...]
    scores: dict[str, RetrievalScores]
    outcomes: list[QueryOutcome]
    skipped: dict[str, str] = field(default_factory=dict)

    def misses(self, task: str, k: int) -> list[QueryOutcome]:
        """Queries of ``task`` with no relevant photo in their top ``k``."""
        return [o for o in self.outcomes if o.task == task and (o.rank is None or o.rank > k)]

    def neardup_by_transform(self) -> dict[str, float]:
        """Near-duplicate recall@1 per edit named in the manifest."""
        groups: dict[str, list[QueryOutcome]] = {}
        for o in self.outcomes:
            if o.task == "neardup" and o.transform:
                groups.setdefault(o.transform, []).append(o)
        return {t: sum(o.rank == 1 for o in os_) / len(os_) for t, os_ in groups.items()}


def evaluate_images(
    embedder: Any,
    folder: str | os.PathLike[str],
    *,
    queries: Sequence[EvalQuery] = (),
    neardup: Sequence[NearDuplicate] = (),
    ks: Sequence[int] = (1, 5),
    dimension: int | None = None,
    progress: bool = False,
) -> ImageEvalReport:
    """Embed the photos of ``folder`` with ``embedder`` and score ``queries`` and ``neardup``.

    Raises :class:`~vertex_mm.errors.InputError` when a query names a photo that is not in the
    folder (a typo would otherwise read as a model failure), ValueError when there is nothing
    to evaluate.
    """
    from ..errors import InputError

    if not queries and not neardup:
        raise ValueError("nothing to evaluate: give queries and/or near-duplicates")
    ks = tuple(sorted(set(ks)))
    query_files = {q.image.resolve() for q in queries if q.image is not None} | {d.query.resolve() for d in neardup}
    root = Path(folder).resolve()
    photos = [p for p in find_images(root) if p.resolve() not in query_files]
    ids = [p.relative_to(root).as_posix() for p in photos]
    known = set(ids)
    for where, wanted in [(q.source, q.relevant) for q in queries] + [(d.source, (d.target,)) for d in neardup]:
        missing = [r for r in wanted if r not in known]
        if missing:
            raise InputError(f"{where}: {', '.join(missing)} not among the photos of {folder}", input_name=where)

    space = embedder.space(dimension)
    gallery = embedder.embed_images([str(p) for p in photos], dimension=space.dimension,
                                    progress=progress, errors="collect")
    ok = np.asarray(gallery.ok)
    skipped = {ids[i]: f"{type(e).__name__}: {e}" for i, e in gallery.failed.items()}
    gallery_ids = [i for i, good in zip(ids, ok) if good]
    gallery_vecs = _unit(np.asarray(gallery)[ok])

    scores: dict[str, RetrievalScores] = {}
    outcomes: list[QueryOutcome] = []
    for task, rows in _tasks(queries, neardup):
        embed = embedder.embed_texts if task == "text" else embedder.embed_images
        vecs = embed([r.input for r in rows], dimension=space.dimension, progress=progress, errors="collect")
        rankings = _rankings(np.asarray(vecs), np.asarray(vecs.ok), gallery_vecs, gallery_ids)
        scores[task] = score_rankings(rankings, [r.relevant for r in rows], ks)
        for r, ranking, err in zip(rows, rankings, vecs.errors):
            outcomes.append(QueryOutcome(task, r.label, r.relevant, first_relevant_rank(ranking, r.relevant),
                                         tuple(ranking[: max(ks)]), f"{type(err).__name__}: {err}" if err else None,
                                         r.transform))
    return ImageEvalReport(space, len(gallery_ids), ks, scores, outcomes, skipped)


@dataclass(frozen=True)
class _Row:
    input: str
    label: str
    relevant: tuple[str, ...]
    transform: str = ""


def _tasks(queries: Sequence[EvalQuery], neardup: Sequence[NearDuplicate]) -> list[tuple[str, list[_Row]]]:
    """The queries grouped by task, in report order, each task's rows ready to embed."""
    rows: dict[str, list[_Row]] = {t: [] for t in TASKS}
    for q in queries:
        if q.text is not None:
            rows["text"].append(_Row(q.text, q.label, q.relevant))
        elif q.image is not None:
            rows["image"].append(_Row(str(q.image), q.label, q.relevant))
    for d in neardup:
        rows["neardup"].append(_Row(str(d.query), d.label, (d.target,), d.transform))
    return [(t, r) for t, r in rows.items() if r]


def _unit(x: np.ndarray) -> np.ndarray:
    # Cosine similarity: not every backend returns unit vectors.
    x = x.astype(np.float32, copy=False)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _rankings(queries: np.ndarray, ok: np.ndarray, gallery: np.ndarray, ids: list[str]) -> list[list[str]]:
    """Gallery ids of each query, most similar first; an empty ranking for a failed query."""
    sims = _unit(np.nan_to_num(queries)) @ gallery.T
    # Stable sort on -similarity: ties keep folder order, so a run is reproducible.
    order = np.argsort(-sims, axis=1, kind="stable")
    return [[ids[i] for i in row] if good else [] for row, good in zip(order, ok)]
