"""``vertex-mm eval-images``: retrieval quality of a backend on a folder of photos with known answers.

    vertex-mm eval-images photos/ --queries queries.jsonl
    vertex-mm eval-images photos/ --queries queries.jsonl --neardup neardup/manifest.jsonl
    vertex-mm eval-images photos/ --make-neardup /tmp/neardup          # build near-dups, then score them
    vertex-mm eval-images photos/ --queries q.jsonl --backend vertex --api-endpoint http://127.0.0.1:8080
    vertex-mm eval-images --split dev --ablations     # the built held-out set (vertex-mm eval-data build photos)

Every photo under DIR is embedded and each query ranks all of them by cosine similarity.
Prints, per task (text -> image, image -> image, near-duplicate -> original), Hit@1 and Hit@k
(the hit rate, or success@k: the share of queries with a relevant photo among their first k,
what image-text papers print as "R@K") and MRR; for text queries with several relevant
photos, also recall@k (the share of the relevant photos found in the top k). Then the
near-duplicate Hit@1 per edit, the queries that missed, and one line
``RESULT text_hit1=... text_hit5=... text_recall5=... text_mrr=... image_hit1=... neardup_hit1=...
n_queries=... n_text_queries=... n_image_queries=... n_neardup=... n_images=...``
(``n_queries`` counts the text and image queries of ``--queries``; ``n_neardup`` the
near-duplicates).

``--split dev|test`` evaluates a split of the held-out photo set that ``vertex-mm eval-data build
photos`` wrote (``--data DIR`` if it was built with ``--out DIR``): its images, queries and
near-duplicates. ``--ablations`` then also scores variants of the local default model (plain
ConSE, each half of the k/temperature calibration, the symmetric text side) on the same photos.
Tune on dev; run test once, at the end, and report how many times it was run.

Queries file, one JSON object a line:  {"text": "a red motorcycle", "relevant": ["motorcycle.jpg"]}
(``relevant`` lists paths relative to DIR; the sample_data form {"text"|"image": ..., "expected":
name} works too; see vertex_mm.evaluation.queries). The photos shipped in vertex_mm.sample_data
come with a query set: python -c "import vertex_mm.evaluation as e; print(e.sample_eval_queries_path())".

Exit status: 0 when every photo and query was embedded, 1 when some failed (they count as
misses), 2 on a usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._backend import add_backend_arguments, backend_options

__all__ = ["HELP", "add_arguments", "run"]


HELP = "hit rate@k and MRR of text -> image and near-duplicate search on a folder of photos"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", nargs="?",
                   help="folder of photos (searched recursively); ids are paths relative to it")
    p.add_argument("--split", choices=("dev", "test"),
                   help="evaluate this split of the built held-out photo set instead of DIR")
    p.add_argument("--data", metavar="DIR", help="where eval-data build wrote the set (default: its default --out)")
    p.add_argument("--ablations", action="store_true",
                   help="also score variants of the local default model (conse-effnet-minilm) on the same photos")
    p.add_argument("--queries", metavar="FILE", help="JSONL queries with their relevant photos")
    p.add_argument("--neardup", metavar="MANIFEST", help="JSONL near-duplicate manifest {\"query\": path, \"target\": id}")
    p.add_argument("--make-neardup", metavar="OUTDIR",
                   help="write near-duplicates of DIR's photos and OUTDIR/manifest.jsonl, and score them")
    p.add_argument("-k", type=int, default=5, help="the second cut-off (default 5; Hit@1 is always shown)")
    add_backend_arguments(p, default="local", dimension="embedding length (default: the backend's)")
    p.add_argument("--model", help="model name (local: a registry name such as conse-effnet-minilm)")
    p.add_argument("--misses", type=int, default=20, metavar="N", help="list at most N missed queries per task (default 20)")
    p.add_argument("--progress", action="store_true", help="show embedding progress bars")


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_images, load_neardup_manifest, load_queries
    from ..registry import get_embedder
    from ._errors import UsageError

    if args.split:
        if args.folder:
            raise UsageError("give DIR or --split, not both")
        _use_split(args)
    elif not args.folder:
        raise UsageError("give a folder of photos DIR, or --split dev|test for the built held-out set")
    elif args.data:
        raise UsageError("--data goes with --split")
    if args.ablations and (args.backend != "local" or args.model not in (None, "default", "conse-effnet-minilm")):
        raise UsageError("--ablations varies the local default model: use it with --backend local and no other --model")
    if not (args.queries or args.neardup or args.make_neardup):
        raise UsageError("give --queries FILE and/or --neardup MANIFEST or --make-neardup OUTDIR")
    if args.neardup and args.make_neardup:
        raise UsageError("give --neardup or --make-neardup, not both")
    if args.k < 1:
        raise UsageError(f"-k must be >= 1, got {args.k}")
    queries = load_queries(args.queries) if args.queries else []
    manifest = _make_neardup(args.folder, args.make_neardup) if args.make_neardup else args.neardup
    neardup = load_neardup_manifest(manifest) if manifest else []
    options = backend_options(args)
    if args.model:
        options["model"] = args.model
    embedder = get_embedder(args.backend, **options)
    try:
        report = evaluate_images(embedder, args.folder, queries=queries, neardup=neardup, ks=(1, args.k),
                                 dimension=args.dimension, progress=args.progress)
    finally:
        embedder.close()
    print(format_report(report, args.k, args.folder, max_misses=args.misses))
    failed = report.skipped or any(o.error for o in report.outcomes)
    if args.ablations:
        from ..evaluation.photo_ablations import format_ablations, run_ablations

        reports = run_ablations(_ablation_embedders(options.get("device")), args.folder, queries, neardup, ks=(1, args.k),
                                dimension=args.dimension, progress=args.progress)
        print("")
        print(format_ablations(reports, args.k))
    if args.split == "test":
        print("(test split: report it once, at the end, and count every run)")
    return 1 if failed else 0


def _ablation_embedders(device: str | None = None) -> list[tuple[str, Any, int | None]]:
    """One local embedder (and dimension) per ablation of the default model, on ``device``
    (``--device``) like the main run; the variants share one CNN pass."""
    from ..evaluation.photo_ablations import ABLATIONS, DEFAULT_MODEL, model_overrides
    from ..registry import _lazy, get_embedder

    conse_variants = _lazy("local_backend.models.conse:conse_variants", "the ConSE ablations")
    split = [model_overrides(overrides) for _, overrides in ABLATIONS]
    models = conse_variants([params for params, _ in split], DEFAULT_MODEL, device=device)
    return [(name, get_embedder("local", model=m), dim) for (name, _), m, (_, dim) in zip(ABLATIONS, models, split)]


def _use_split(args: argparse.Namespace) -> None:
    """Point DIR, --queries and --neardup at a split of the built photo set."""
    from ..evaluation.photo_ablations import split_inputs

    images, queries, manifest = split_inputs(args.split, args.data)
    args.folder = str(images)
    args.queries = args.queries or str(queries)
    if manifest is not None and not args.make_neardup:
        args.neardup = args.neardup or str(manifest)


def _make_neardup(folder: str, outdir: str) -> Path:
    from ..evaluation import make_near_duplicates
    from ..index.build import find_images

    out = Path(outdir).resolve()
    # Near-duplicates written inside DIR by an earlier run are not photos to copy again.
    photos = [p for p in find_images(folder) if out not in p.resolve().parents]
    if not photos:
        from ._errors import UsageError

        raise UsageError(f"{folder}: no images to make near-duplicates of", input_name=str(folder))
    return make_near_duplicates(photos, out, root=folder)


_TASK_NAMES = {"text": "text -> image", "image": "image -> image", "neardup": "near-dup -> original"}


def format_report(report: Any, k: int, folder: str, *, max_misses: int = 20) -> str:
    """The table, the misses and the RESULT line, as printed."""
    lines = [f"{report.n_images} photos in {folder}; space {report.space.id}", ""]
    lines.append(f"{'task':<22} {'queries':>7} {'Hit@1':>6} {f'Hit@{k}':>6} {'MRR':>6}")
    for task, s in report.scores.items():
        lines.append(f"{_TASK_NAMES[task]:<22} {s.n_queries:>7} {s.hit[1]:>6.3f} {s.hit[k]:>6.3f} {s.mrr:>6.3f}")
    multi = [o for o in report.outcomes if o.task == "text" and len(o.relevant) > 1]
    if multi:
        lines.append(f"(text queries with several relevant photos: {len(multi)}; recall@{k} of text -> image, "
                     f"the share of relevant photos found in the top {k}: {report.scores['text'].recall[k]:.3f})")
    by_edit = report.neardup_by_transform()
    if by_edit:
        lines.append("near-dup Hit@1 by edit: " + ", ".join(f"{t} {v:.2f}" for t, v in by_edit.items()))
    for task in report.scores:
        cut = 1 if task == "neardup" else k
        missed = report.misses(task, cut)
        if missed:
            lines.append("")
            lines.append(f"{_TASK_NAMES[task]}: {len(missed)} missed (no relevant photo in the top {cut})")
            for o in missed[:max_misses]:
                where = o.error or (f"rank {o.rank}" if o.rank else "not ranked")
                top = ", ".join(o.top[:3]) or "(none)"
                lines.append(f"  {o.label!r} wants {', '.join(o.relevant)} ({where}); top: {top}")
    for id_, why in list(report.skipped.items())[:max_misses]:
        lines.append(f"skipped photo {id_}: {why}")
    # "hit" is the hit rate (success@k), "recall" the IR recall@k: the old keys text_r1 and
    # the like read as recall@k, which page evaluation means by R@k.
    result = {}
    if "text" in report.scores:
        text = report.scores["text"]
        result["text_hit1"] = text.hit[1]
        result[f"text_hit{k}"] = text.hit[k]
        result[f"text_recall{k}"] = text.recall[k]
        result["text_mrr"] = text.mrr
    if "image" in report.scores:
        result["image_hit1"] = report.scores["image"].hit[1]
    if "neardup" in report.scores:
        result["neardup_hit1"] = report.scores["neardup"].hit[1]
    n_task = {task: s.n_queries for task, s in report.scores.items()}
    counts = {"n_queries": n_task.get("text", 0) + n_task.get("image", 0), "n_text_queries": n_task.get("text", 0),
              "n_image_queries": n_task.get("image", 0), "n_neardup": n_task.get("neardup", 0),
              "n_images": report.n_images}
    lines.append("")
    lines.append("RESULT " + " ".join([f"{key}={v:.4f}" for key, v in result.items()] +
                                      [f"{key}={v}" for key, v in counts.items()]))
    return "\n".join(lines)
