"""The held-out photo splits as eval-images inputs, and the ablations of the default ConSE model.

>>> from vertex_mm.evaluation.photo_ablations import split_inputs, run_ablations
>>> folder, queries, neardup = split_inputs("dev")                       # doctest: +SKIP
>>> embedders = [(name, get_embedder("local", model=m)) for (name, _), m in
...              zip(ABLATIONS, conse_variants([o for _, o in ABLATIONS]))]          # doctest: +SKIP
>>> for name, report in run_ablations(embedders, folder, load_queries(queries)):  # doctest: +SKIP
...     print(name, report.scores["text"].hit[5])

``split_inputs`` finds a split of the set that ``vertex-mm eval-data build photos`` wrote
(:mod:`vertex_mm.evaluation.datasets`). ``run_ablations`` scores variants of the local default
``conse-effnet-minilm`` on the same photos: the plain ConSE it replaced (top 10 classes, softmax
temperature 1), each half of the calibration, ConSE k=20 T=2 without the CNN-detail block (the
previous default), the default, the default at the smaller Vertex dimensions (its near-duplicate
Hit@1 per dimension), and the symmetric text side. The variants share one CNN pass per image (its
pooled features and class scores are kept by pixel digest), so an ablation costs about one
evaluation plus the ConSE mixing.

Tune on ``dev`` only. ``test`` is for the one final report; say how many times it was run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .datasets import EvalDataError, default_out_dir
from .images import ImageEvalReport, evaluate_images
from .queries import EvalQuery, NearDuplicate

__all__ = ["ABLATIONS", "DEFAULT_MODEL", "model_overrides", "run_ablations", "split_inputs"]

DEFAULT_MODEL = "conse-effnet-minilm"

# name -> overrides of the registry params of DEFAULT_MODEL ({} is the shipped default); the key
# "dimension" is not a model param: it scores that variant at that Vertex dimension.
ABLATIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("plain ConSE k=10 T=1 (old default)", {"top_k": 10, "temperature": 1.0, "detail_weight": 0.0}),
    ("k=20 T=1", {"top_k": 20, "temperature": 1.0, "detail_weight": 0.0}),
    ("k=10 T=2", {"top_k": 10, "temperature": 2.0, "detail_weight": 0.0}),
    ("k=20 T=2, no CNN detail (previous)", {"detail_weight": 0.0}),
    ("default", {}),
    ("default at 512", {"dimension": 512}),
    ("default at 256", {"dimension": 256}),
    ("default at 128", {"dimension": 128}),
    ("default + symmetric text 0.7", {"text_mix": 0.7}),
)


def model_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """``(params for the model, dimension or None)`` of one :data:`ABLATIONS` entry."""
    params = dict(overrides)
    dimension = params.pop("dimension", None)
    return params, dimension


def split_inputs(split: str, root: str | os.PathLike[str] | None = None) -> tuple[Path, Path, Path | None]:
    """``(images folder, queries.jsonl, near-duplicate manifest or None)`` of a built photo split.

    Raises :class:`~vertex_mm.errors.InputError` naming the folder and the build command when
    the split has not been built under ``root`` (default: where ``eval-data build`` writes).
    """
    from ..errors import InputError

    if split not in ("dev", "test"):
        raise EvalDataError(f"unknown split {split!r}: use dev or test")
    base = Path(root) if root is not None else default_out_dir()
    folder = base / "photos" / split
    images, queries, manifest = folder / "images", folder / "queries.jsonl", folder / "neardup" / "manifest.jsonl"
    if not images.is_dir() or not queries.is_file():
        out = "" if root is None else f" --out {root}"
        raise InputError(f"{folder}: the {split} photo split is not built there (needs images/ and queries.jsonl); "
                         f"build it with: vertex-mm eval-data build photos{out}", input_name=str(folder))
    return images, queries, manifest if manifest.is_file() else None


def run_ablations(embedders: Sequence[tuple[Any, ...]], folder: str | os.PathLike[str], queries: Sequence[EvalQuery],
                  neardup: Sequence[NearDuplicate] = (), *, ks: Sequence[int] = (1, 5), dimension: int | None = None,
                  progress: bool = False) -> list[tuple[str, ImageEvalReport]]:
    """Each named embedder's :class:`ImageEvalReport` on the same photos and queries, in order;
    every embedder is closed afterwards. Entries are ``(name, embedder)`` or ``(name, embedder,
    dimension)``; the third overrides ``dimension`` for that entry. ``vertex-mm eval-images
    --ablations`` passes one local embedder per entry of :data:`ABLATIONS`
    (``local_backend.models.conse.conse_variants``)."""
    reports = []
    for name, embedder, *own in embedders:
        try:
            dim = own[0] if own and own[0] is not None else dimension
            reports.append((name, evaluate_images(embedder, folder, queries=queries, neardup=neardup, ks=ks,
                                                  dimension=dim, progress=progress)))
        finally:
            embedder.close()
    return reports


def format_ablations(reports: Sequence[tuple[str, ImageEvalReport]], k: int) -> str:
    """One row per variant: text Hit@1, Hit@k, MRR and near-duplicate Hit@1 (hit rate: any
    relevant photo in the top k; see :mod:`.metrics`)."""
    lines = [f"{'ablation':<34} {'Hit@1':>6} {f'Hit@{k}':>6} {'MRR':>6} {'nd Hit@1':>8}  space"]
    for name, r in reports:
        t, nd = r.scores.get("text"), r.scores.get("neardup")
        cells = [f"{t.hit[1]:>6.3f} {t.hit[k]:>6.3f} {t.mrr:>6.3f}" if t else f"{'-':>6} {'-':>6} {'-':>6}",
                 f"{nd.hit[1]:>8.3f}" if nd else f"{'-':>8}"]
        lines.append(f"{name:<34} {' '.join(cells)}  {r.space.variant}")
    return "\n".join(lines)
