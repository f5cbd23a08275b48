"""Choose the OCR-assisted retriever's signals and fusion weights by leave-one-document-out
cross-validation on a DEV split.

    python benchmarks/pages_fusion_weights.py DIR [--split dev] [--cache scores.npz]

Indexes the page set once with every component (``--cache`` keeps the component scores, so a
rerun costs no indexing), then, for each document of the split in turn: picks the weights of
a coarse grid that score best (mean nDCG@5) on the OTHER documents' queries, and scores the
held-out document's queries with them. The pooled held-out nDCG@5 is what a weight choice is
worth on documents it never saw. It does that for every family of signals (lexical alone,
lexical+dense, +layout, +visual, all), so a signal is kept only when adding it raises the
held-out score; each single signal alone is listed too (it has no weight to fit). Ties between
grid points go to the simpler one (fewer signals, then smaller weights). Last: the weights
fitted on the whole split for the best family, and one RESULT line. Refuses the test split.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import sys
from collections.abc import Mapping, Sequence

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
GRID = {"dense": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5), "layout": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0),
        "visual": (0.0, 0.05, 0.2, 0.5, 1.0)}
FAMILIES = {"lexical": ("lexical",), "lexical+dense": ("lexical", "dense"),
            "lexical+dense+layout": ("lexical", "dense", "layout"),
            "lexical+dense+visual": ("lexical", "dense", "visual"), "all": ("lexical", "dense", "layout", "visual")}


def grid(family: Sequence[str]) -> list[dict[str, float]]:
    free = [n for n in ("dense", "layout", "visual") if n in family]
    out = []
    for values in itertools.product(*(GRID[n] for n in free)):
        w = {"lexical": 1.0, **dict(zip(free, values, strict=True))}
        out.append(w)
    # simplest first: fewer non-zero weights, then smaller total weight (max() keeps the first best)
    return sorted(out, key=lambda w: (sum(v > 0 for v in w.values()), sum(w.values())))


def component_scores(dir_: str, split: str, cache: str | None) -> tuple[dict[str, np.ndarray], list[str], list[str], dict]:
    from local_backend.pages import OcrAssistedPageRetriever
    from vertex_mm.pages.eval import load_dataset

    ds = load_dataset(dir_, split)
    qids = ds.query_ids
    if cache and pathlib.Path(cache).exists():
        z = np.load(cache, allow_pickle=False)
        comps = {k[2:]: z[k] for k in z.files if k.startswith("c_")}
        return comps, [str(p) for p in z["page_ids"]], qids, ds.qrels
    r = OcrAssistedPageRetriever(components=("lexical", "dense", "visual", "layout"))
    r.index(ds.pages)
    comps = r.component_scores([ds.queries[q] for q in qids])
    if cache:
        np.savez(cache, page_ids=np.array(r.page_ids), **{f"c_{k}": v for k, v in comps.items()})
    return comps, r.page_ids, qids, ds.qrels


def main(argv: list[str] | None = None) -> int:
    from local_backend.pages import DEFAULT_WEIGHTS, Fusion
    from vertex_mm.pages.eval import query_metrics

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--cache", default=None, help="npz file to keep (and reuse) the component scores in")
    ap.add_argument("--method", default="zsum", choices=("zsum", "rrf"))
    args = ap.parse_args(argv)
    if args.split == "test":
        print("refusing to tune on the test split", file=sys.stderr)
        return 2
    comps, page_ids, qids, qrels = component_scores(args.dir, args.split, args.cache)
    doc_of = {q: next(iter(qrels[q])).split("#")[0] for q in qids}
    docs = sorted(set(doc_of.values()))
    print(f"{args.split}: {len(qids)} queries, {len(page_ids)} pages, {len(docs)} documents: "
          + ", ".join(f"{d} ({sum(v == d for v in doc_of.values())} q)" for d in docs))

    def per_query(weights: Mapping[str, float], family: Sequence[str]) -> np.ndarray:
        used = {k: v for k, v in comps.items() if k in family and weights.get(k, 0) > 0}
        fused = next(iter(used.values())) if len(used) == 1 else Fusion(args.method, dict(weights)).fuse(used)
        m = query_metrics(fused, page_ids, qids, qrels)
        return np.array([m[q]["ndcg5"] for q in qids])

    for name, s in comps.items():
        m = query_metrics(s, page_ids, qids, qrels)
        print(f"  {name:>8} alone: nDCG@5 {np.mean([m[q]['ndcg5'] for q in qids]):.3f}")
    default = per_query(DEFAULT_WEIGHTS, tuple(comps)).mean()
    print(f"  DEFAULT_WEIGHTS {DEFAULT_WEIGHTS} on every component: nDCG@5 {default:.3f} (in-sample)")
    doc_arr = np.array([doc_of[q] for q in qids])
    results = {}
    cv_per_query: dict[str, np.ndarray] = {}
    for fam_name, family in FAMILIES.items():
        points = grid(family)
        table = np.vstack([per_query(w, family) for w in points])  # (grid points, queries)
        held_out = np.empty(len(qids))
        picks = []
        for d in docs:
            train, test = doc_arr != d, doc_arr == d
            best = int(np.argmax(table[:, train].mean(axis=1)))
            held_out[test] = table[best, test]
            picks.append(points[best])
        full = int(np.argmax(table.mean(axis=1)))
        results[fam_name] = (held_out.mean(), points[full], table[full].mean(), picks)
        cv_per_query[fam_name] = held_out
        print(f"{fam_name:>22}: LODO-CV nDCG@5 {held_out.mean():.3f}  "
              f"(in-sample best {table[full].mean():.3f} at {points[full]})")
        for d, w in zip(docs, picks, strict=True):
            print(f"{'':>24}held out {d}: {table[points.index(w), doc_arr == d].mean():.3f} with {w}")
    names = list(FAMILIES)
    for a, b in itertools.combinations(names, 2):
        d = cv_per_query[b] - cv_per_query[a]
        print(f"  held-out per query, {b} vs {a}: {int((d > 1e-9).sum())} better, {int((d < -1e-9).sum())} worse, "
              f"mean {d.mean():+.3f}")
    best_fam = max(results, key=lambda f: (round(results[f][0], 3), -len(FAMILIES[f])))
    cv, weights, insample, _ = results[best_fam]
    print(f"RESULT split={args.split} queries={len(qids)} best_family={best_fam} cv_ndcg5={cv:.3f} "
          f"insample_ndcg5={insample:.3f} weights={weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
