"""How well an embedder retrieves photos: hit rate@k, recall@k and MRR on a folder with known answers.

>>> from vertex_mm import get_embedder
>>> from vertex_mm.evaluation import evaluate_images, load_queries, sample_eval_queries_path
>>> from vertex_mm.sample_data import sample_photos_dir
>>> report = evaluate_images(get_embedder("local"), sample_photos_dir(),
...                          queries=load_queries(sample_eval_queries_path()))    # doctest: +SKIP
>>> report.scores["text"]                                                          # doctest: +SKIP
RetrievalScores(n=37, hit@1=..., hit@5=..., recall@5=..., MRR=...)

The command line does the same: ``vertex-mm eval-images DIR --queries FILE [--neardup MANIFEST]``.

* :mod:`~vertex_mm.evaluation.metrics`: recall@k, hit@k (success@k), reciprocal rank and nDCG@k, per
  query and as trec_eval means over a run (the page-search evaluation uses these too).
* :mod:`~vertex_mm.evaluation.queries`: the queries file and near-duplicate manifest formats.
* :mod:`~vertex_mm.evaluation.neardup`: edited copies of photos (crop, resize, JPEG 40, flip,
  colour jitter) and their manifest.
* :mod:`~vertex_mm.evaluation.images`: the evaluation itself.
* :mod:`~vertex_mm.evaluation.datasets`: the held-out photo and page sets (dev/test), rebuilt from
  Debian packages by ``vertex-mm eval-data build``; manifests and queries in ``data/evalsets/``.

``sample_eval_queries_path()`` is a query set for the photos of :mod:`vertex_mm.sample_data`:
two queries per photo, written to describe what is visible, plus three with several answers.
This module imports numpy and Pillow only; the embedder decides what else loads.
"""

from __future__ import annotations

from pathlib import Path

from .images import ImageEvalReport, QueryOutcome, evaluate_images
from .metrics import RetrievalScores, first_relevant_rank, hit_at_k, recall_at_k, reciprocal_rank, score_rankings
from .neardup import TRANSFORMS, make_near_duplicates, near_duplicate
from .queries import EvalQuery, NearDuplicate, load_neardup_manifest, load_queries

__all__ = [
    "TRANSFORMS",
    "EvalQuery",
    "ImageEvalReport",
    "NearDuplicate",
    "QueryOutcome",
    "RetrievalScores",
    "evaluate_images",
    "first_relevant_rank",
    "hit_at_k",
    "load_neardup_manifest",
    "load_queries",
    "make_near_duplicates",
    "near_duplicate",
    "recall_at_k",
    "reciprocal_rank",
    "sample_eval_queries_path",
    "score_rankings",
]


def sample_eval_queries_path() -> Path:
    """The evaluation queries (JSONL) for the photos of ``vertex_mm.sample_data.sample_photos_dir()``."""
    return Path(__file__).resolve().parent / "data" / "sample_photo_queries.jsonl"
