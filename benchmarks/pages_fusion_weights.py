"""Choose the OCR-assisted retriever's signals and fusion weights by leave-one-document-out
cross-validation on DEV splits.

    python benchmarks/pages_fusion_weights.py DIR [--split dev] [--also DIR2[:SPLIT]] [--cache scores.npz]

Indexes each page set once with every component (``--cache`` keeps the component scores, so a
rerun costs no indexing; with ``--also``, one cache file per set: ``scores.npz``,
``scores.1.npz``...; a cache records its data set folder, split, query ids and page ids, and one
written for anything else is refused, exit 2), and computes the candidate signals that are not components of the
retriever: passage-level BM25 (best window of 60 words, :class:`~local_backend.pages.lexical.PassageScorer`),
a query-term proximity score (BM25TP-style: each pair of different query terms within 5
words earns the smaller IDF over the squared distance, saturated as ``acc / (1 + acc)``), and
heading evidence (:mod:`local_backend.pages.headings`: each page's title line, as a BM25 of
its own, ``heading``, and twice more in BM25's page text, ``lexical_headings``, which replaces
``lexical`` in its family), and the dense passages late-chunked (``dense_late``, replacing
``dense`` in its family: :class:`~local_backend.pages.dense.DenseScorer`'s ``late_chunking``).
Then, for each document of the pooled dev sets in turn: picks the weights of a coarse grid
that score best (mean nDCG@5) on the OTHER documents' queries, and scores the held-out
document's queries with them. The pooled held-out nDCG@5 is what a choice is worth on
documents it never saw. It does that for every family of signals, so a signal is kept only
when adding it raises the held-out score; each single signal alone is listed too (it has no
weight to fit). Ties between grid points go to the simpler one (fewer signals, then smaller
weights). Picking the best family by its LODO score is itself a choice made on every document,
so a "nested" line also picks the family with the weights on the other documents only (the
fair figure for "whichever family wins"). Last: the weights fitted on all the dev queries for
the best family, and one RESULT line. Refuses a test split.

``--also`` pools another data set's dev split into the cross-validation (the project fixture
``tests/fixtures/pagesearch`` has one): each set is fused on its own pages, and its documents
join the folds.
"""

from __future__ import annotations

import argparse
import itertools
import math
import pathlib
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
GRID = {"dense": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5), "dense_late": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5),
        "layout": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0),
        "visual": (0.0, 0.05, 0.2, 0.5, 1.0), "passage": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0),
        "proximity": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0), "heading": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)}
BASE = ("lexical", "dense", "layout")
FAMILIES = {"lexical": ("lexical",), "lexical+dense": ("lexical", "dense"), "lexical+dense+layout": BASE,
            "lexical+dense+visual": ("lexical", "dense", "visual"), "+visual": (*BASE, "visual"),
            "+passage": (*BASE, "passage"), "+proximity": (*BASE, "proximity"), "+heading": (*BASE, "heading"),
            "headings x2 in BM25": ("lexical_headings", "dense", "layout"),
            "dense late-chunked": ("lexical", "dense_late", "layout")}
PROXIMITY_WINDOW = 5


@dataclass
class DevSet:
    """One data set's dev split: each signal's ``(queries, pages)`` scores and the judgements."""

    name: str
    comps: dict[str, np.ndarray]
    page_ids: list[str]
    qids: list[str]
    qrels: dict[str, dict[str, int]]


def grid(family: Sequence[str]) -> list[dict[str, float]]:
    """The family's weight grid; its first signal (BM25) is fixed at 1."""
    free = [n for n in GRID if n in family[1:]]
    out = []
    for values in itertools.product(*(GRID[n] for n in free)):
        w = {family[0]: 1.0, **dict(zip(free, values, strict=True))}
        out.append(w)
    # simplest first: fewer non-zero weights, then smaller total weight (max() keeps the first best)
    return sorted(out, key=lambda w: (sum(v > 0 for v in w.values()), sum(w.values())))


def proximity_scores(tokens: Sequence[Sequence[str]], query_tokens: Sequence[Sequence[str]],
                     window: int = PROXIMITY_WINDOW) -> np.ndarray:
    """BM25TP-style term-pair proximity of every page for every query (tokens as BM25 sees them)."""
    n = len(tokens)
    df = Counter(t for page in tokens for t in set(page))
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    out = np.zeros((len(query_tokens), n), np.float32)
    for j, query in enumerate(query_tokens):
        wanted = set(query) & set(idf)
        for i, page in enumerate(tokens):
            hits = [(p, t) for p, t in enumerate(page) if t in wanted]
            acc = 0.0
            for a, (pa, ta) in enumerate(hits):
                for pb, tb in hits[a + 1:]:
                    if pb - pa > window:
                        break
                    if ta != tb:
                        acc += min(idf[ta], idf[tb]) / (pb - pa) ** 2
            out[j, i] = acc / (1.0 + acc)
    return out


class CacheMismatchError(Exception):
    """A ``--cache`` file that was written for another data set, split, query or page list."""


def cache_paths(cache: str | None, n: int) -> list[str | None]:
    """One cache file per set, each ending in ``.npz`` (``np.savez`` appends it, so a bare name was
    written as ``name.npz`` and never found again): ``scores.npz``, ``scores.1.npz``, ..."""
    if not cache:
        return [None] * n
    stem = cache.removesuffix(".npz")
    return [f"{stem}.npz" if i == 0 else f"{stem}.{i}.npz" for i in range(n)]


def _identity(dir_: str, split: str, qids: Sequence[str], corpus_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """What a cache was written for: the folder, the split, its queries and its pages (all of
    them, as listed; the cached columns leave out a page that could not be read)."""
    return {"dir": np.array(str(pathlib.Path(dir_).resolve())), "split": np.array(split),
            "qids": np.array(list(qids), dtype=str), "corpus_ids": np.array(list(corpus_ids), dtype=str)}


def _shown(value: np.ndarray) -> str:
    return repr(value.item()) if value.ndim == 0 else f"{len(value)} ids starting {value.tolist()[:3]}"


def load_cache(cache: str, dir_: str, split: str, qids: Sequence[str],
               corpus_ids: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The component scores of ``cache`` and their page ids (columns); :class:`CacheMismatchError`
    unless it was written for this folder, split, query list and page list (a cache of another
    set gave wrong numbers silently)."""
    with np.load(cache, allow_pickle=False) as z:
        for key, want in _identity(dir_, split, qids, corpus_ids).items():
            if key not in z.files:
                raise CacheMismatchError(f"{cache}: does not record its {key} (written by an older version of "
                                         "this script); delete it or give another --cache")
            if z[key].shape != want.shape or not np.array_equal(z[key], want):
                raise CacheMismatchError(f"{cache}: written for {key} {_shown(z[key])}, this set has {_shown(want)}; "
                                         "delete it or give another --cache")
        comps = {k[2:]: z[k] for k in z.files if k.startswith("c_")}
        page_ids = [str(p) for p in z["page_ids"]]
    shape = (len(qids), len(page_ids))
    for name, scores in comps.items():
        if scores.shape != shape:
            raise CacheMismatchError(f"{cache}: its {name} scores are {scores.shape}, not (queries, pages) {shape}")
    return comps, page_ids


def dev_set(dir_: str, split: str, cache: str | None) -> DevSet:
    from local_backend.pages import COMPONENTS, OcrAssistedPageRetriever
    from local_backend.pages.dense import DenseScorer
    from local_backend.pages.headings import heading_documents, page_headings
    from local_backend.pages.layout import figure_passages
    from local_backend.pages.lexical import LexicalScorer, PassageScorer
    from vertex_mm.pages.eval import load_dataset

    ds = load_dataset(dir_, split)
    qids = ds.query_ids
    if cache and pathlib.Path(cache).exists():
        comps, page_ids = load_cache(cache, dir_, split, qids, [ref.page_id for ref in ds.pages])
        return DevSet(dir_, comps, page_ids, qids, ds.qrels)
    r = OcrAssistedPageRetriever(components=COMPONENTS)
    r.index(ds.pages)
    queries = [ds.queries[q] for q in qids]
    comps = r.component_scores(queries)
    docs = r.bm25_documents(r.pages)
    passage = PassageScorer().fit(docs)
    comps["passage"] = np.vstack([passage.scores(q) for q in queries])
    lexical = LexicalScorer()
    comps["proximity"] = proximity_scores(lexical._tokenize(docs, return_ids=False),  # type: ignore[arg-type]
                                          lexical._tokenize(queries, return_ids=False))  # type: ignore[arg-type]
    dense = r.scorer("dense")
    late = DenseScorer(dense.encoder, late_chunking=True).fit([[w.text for w in p.words] for p in r.pages],
                                                               [figure_passages(p) for p in r.pages])
    comps["dense_late"] = late.scores_many(queries)
    heads = page_headings(r.pages, [ref.doc_id for ref in r.refs])
    for name, texts in (("heading", heads), ("lexical_headings", heading_documents(docs, heads))):
        scorer = LexicalScorer().fit(texts)
        comps[name] = np.vstack([scorer.scores(q) for q in queries])
    if cache:
        arrays = {**_identity(dir_, split, qids, [ref.page_id for ref in ds.pages]),
                  "page_ids": np.array(r.page_ids, dtype=str), **{f"c_{k}": v for k, v in comps.items()}}
        np.savez(cache, **arrays)  # type: ignore[arg-type]  # numpy's stub lets **arrays reach allow_pickle
    return DevSet(dir_, comps, r.page_ids, qids, ds.qrels)


def per_query(sets: Sequence[DevSet], weights: Mapping[str, float], family: Sequence[str], method: str) -> np.ndarray:
    """nDCG@5 of every query of every set, fusing the family's signals with ``weights``."""
    from local_backend.pages import Fusion
    from vertex_mm.pages.eval import query_metrics

    out = []
    for s in sets:
        used = {k: v for k, v in s.comps.items() if k in family and weights.get(k, 0) > 0}
        fused = next(iter(used.values())) if len(used) == 1 else Fusion(method, dict(weights)).fuse(used)
        m = query_metrics(fused, s.page_ids, s.qids, s.qrels)
        out.append([m[q]["ndcg5"] for q in s.qids])
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    from local_backend.pages import DEFAULT_COMPONENTS, DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("dir")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--also", action="append", default=[], metavar="DIR[:SPLIT]",
                    help="pool another data set's split (default dev) into the cross-validation")
    ap.add_argument("--cache", default=None, help="npz file to keep (and reuse) the component scores in")
    ap.add_argument("--method", default="zsum", choices=("zsum", "rrf"))
    args = ap.parse_args(argv)
    specs = [(args.dir, args.split)] + [(a.rsplit(":", 1)[0], a.rsplit(":", 1)[1]) if ":" in a else (a, "dev")
                                        for a in args.also]
    if any(split == "test" for _, split in specs):
        print("refusing to tune on a test split", file=sys.stderr)
        return 2
    try:
        sets = [dev_set(d, split, c) for (d, split), c in zip(specs, cache_paths(args.cache, len(specs)), strict=True)]
    except CacheMismatchError as exc:
        print(f"refusing the cache: {exc}", file=sys.stderr)
        return 2
    docs: list[str] = []
    for i, s in enumerate(sets):
        doc_of = [f"{i}:{next(iter(s.qrels[q])).split('#')[0]}" for q in s.qids]
        docs += doc_of
        print(f"set {i} {s.name} ({specs[i][1]}): {len(s.qids)} queries, {len(s.page_ids)} pages, documents: "
              + ", ".join(f"{d.split(':', 1)[1]} ({doc_of.count(d)} q)" for d in sorted(set(doc_of))))
    doc_arr = np.array(docs)
    for name in sets[0].comps:
        print(f"  {name:>9} alone: nDCG@5 {per_query(sets, {name: 1.0}, (name,), args.method).mean():.3f}")
    default = per_query(sets, DEFAULT_WEIGHTS, DEFAULT_COMPONENTS, args.method).mean()
    print(f"  DEFAULT_WEIGHTS {DEFAULT_WEIGHTS} on {'+'.join(DEFAULT_COMPONENTS)}: nDCG@5 {default:.3f} (in-sample)")
    results = {}
    cv_per_query: dict[str, np.ndarray] = {}
    tables: list[np.ndarray] = []
    for fam_name, family in FAMILIES.items():
        missing = [n for n in family if any(n not in s.comps for s in sets)]
        if missing:
            print(f"{fam_name:>22}: skipped (the cache was written before {missing} were computed; rerun without it)")
            continue
        points = grid(family)
        table = np.vstack([per_query(sets, w, family, args.method) for w in points])  # (grid points, queries)
        tables.append(table)
        held_out = np.empty(len(docs))
        picks = []
        for d in sorted(set(docs)):
            train, test = doc_arr != d, doc_arr == d
            best = int(np.argmax(table[:, train].mean(axis=1)))
            held_out[test] = table[best, test]
            picks.append((d, points[best]))
        full = int(np.argmax(table.mean(axis=1)))
        results[fam_name] = (held_out.mean(), points[full], table[full].mean())
        cv_per_query[fam_name] = held_out
        by_set = "  ".join(f"set {i} {held_out[np.char.startswith(doc_arr, f'{i}:')].mean():.3f}" for i in range(len(sets)))
        print(f"{fam_name:>22}: LODO-CV nDCG@5 {held_out.mean():.3f} ({by_set})  "
              f"(in-sample best {table[full].mean():.3f} at {points[full]})")
        for d, w in picks:
            print(f"{'':>24}held out {d}: {table[points.index(w), doc_arr == d].mean():.3f} with {w}")
    everything = np.vstack(tables)  # nested: family and weights picked on the other documents only
    nested = np.empty(len(docs))
    for d in sorted(set(docs)):
        train, test = doc_arr != d, doc_arr == d
        nested[test] = everything[int(np.argmax(everything[:, train].mean(axis=1))), test]
    print(f"{'nested':>22}: LODO-CV nDCG@5 {nested.mean():.3f} (family and weights picked per fold among all the above)")
    base = "lexical+dense+layout"
    for name in cv_per_query:
        if name != base:
            d = cv_per_query[name] - cv_per_query[base]
            print(f"  held-out per query, {name} vs {base}: {int((d > 1e-9).sum())} better, {int((d < -1e-9).sum())} worse, "
                  f"mean {d.mean():+.3f}")
    best_fam = max(results, key=lambda f: (round(results[f][0], 3), -len(FAMILIES[f])))
    cv, weights, insample = results[best_fam]
    print(f"RESULT sets={len(sets)} queries={len(docs)} best_family={best_fam} cv_ndcg5={cv:.3f} "
          f"insample_ndcg5={insample:.3f} weights={weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
