"""Choose the OCR-assisted retriever's fusion weights on the fixture's DEV queries.

    python benchmarks/pages_fusion_weights.py [DIR] [--split dev]

Indexes the page set once, then scores every weight combination of a coarse grid by mean
nDCG@5 on the dev split, side by side with the shipped DEFAULT_WEIGHTS and with each
component alone. Never run it on the test split to pick weights: that split is for reporting.
A wide plateau matters more than the single best point (21 queries decide little); pick from
its middle. Ends with one RESULT line.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
GRID = {"dense": (0.5, 1.0, 1.5), "visual": (0.0, 0.05, 0.2), "layout": (0.0, 0.3, 0.75, 1.0, 1.5)}


def main(argv: list[str] | None = None) -> int:
    from local_backend.pages import DEFAULT_WEIGHTS, Fusion, OcrAssistedPageRetriever
    from vertex_mm.pages.eval import load_dataset, query_metrics

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", default=str(ROOT / "tests" / "fixtures" / "pagesearch"))
    ap.add_argument("--split", default="dev")
    args = ap.parse_args(argv)
    if args.split == "test":
        print("refusing to tune on the test split", file=sys.stderr)
        return 2
    ds = load_dataset(args.dir, args.split)
    r = OcrAssistedPageRetriever()
    r.index(ds.pages)
    qids = ds.query_ids
    comps = r.component_scores([ds.queries[q] for q in qids])

    def ndcg(scores: np.ndarray) -> float:
        per_q = query_metrics(scores, r.page_ids, qids, ds.qrels)
        return float(np.mean([m["ndcg5"] for m in per_q.values()]))

    for name, s in comps.items():
        print(f"{name:>8} alone: nDCG@5 {ndcg(s):.3f}")
    rows = []
    for wd, wv, wl in itertools.product(GRID["dense"], GRID["visual"], GRID["layout"]):
        w = {"lexical": 1.0, "dense": wd, "visual": wv, "layout": wl}
        rows.append((ndcg(Fusion("zsum", w).fuse(comps)), ndcg(Fusion("rrf", w).fuse(comps)), w))
    print(f"{'zsum':>6} {'rrf':>6}  weights (lexical = 1)")
    for z, f, w in sorted(rows, key=lambda t: -t[0]):
        print(f"{z:6.3f} {f:6.3f}  dense {w['dense']:<4} visual {w['visual']:<4} layout {w['layout']}")
    best = max(rows, key=lambda t: t[0])
    default = ndcg(Fusion().fuse(comps))
    print(f"default weights {DEFAULT_WEIGHTS}: nDCG@5 {default:.3f}")
    print(f"RESULT split={args.split} queries={len(qids)} default_ndcg5={default:.3f} best_ndcg5={best[0]:.3f} "
          f"ratio_default_to_best={default / best[0]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
