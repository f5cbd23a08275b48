"""Indexing speed of the OCR-assisted page retriever on mixed PDFs, against OCR-every-page.

    python benchmarks/pages_index_speed.py [DIR] [--workers 2] [--repeat 3]
    python benchmarks/pages_index_speed.py DIR --split dev --visual   # default vs + CNN regions
    python benchmarks/pages_index_speed.py --image-only --split dev [--dpi 150 --psm 1 --engine cli]

``--image-only`` times the default retriever on image-only pages (``--dense-late-chunking``: with
that opt-in): every page's text layer is ignored (``ReaderSettings(force_ocr=True)``), so every
page goes through tesseract, with the OCR cache off. It prints pages/s, the time of each stage, the CPU time other processes took
meanwhile, and nDCG@5 on the split's queries from the same index; ``--dpi``/``--psm``/... set
the OCR settings being measured (defaults: the library's). Run it from the repository root with
``PYTHONPATH=.`` so that this checkout's packages are measured.

Indexes the fixture's 96 pages (79 born-digital, 17 scans) with the OCR cache off, twice per
round: the project's retriever (text layers read directly, OCR only for scans, all four
components) and the reference pipeline (tesseract on every page, BM25 only). Prints pages/s
for both, their ratio, and the CPU time other processes took during each timing (from
/proc/stat, :mod:`_machine`); repeats until a round runs with less than 10% stolen, or
``--repeat`` rounds. ``--warm-ocr`` reads OCR results from the cache (run once to fill it), so
the timing is of everything but tesseract. With ``--visual`` the reference is instead the retriever with all four
components (the CNN region signal, opt-in since it did not pay on held-out documents, included).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from _machine import machine_line, timed  # benchmarks/ is on sys.path when run as a script

ROOT = pathlib.Path(__file__).resolve().parent.parent


def index_timed(make: Callable[[], Any], pages: Sequence[Any]) -> tuple[float, float, float]:
    """(wall seconds, own CPU seconds, other processes' CPU seconds) of indexing ``pages``."""
    r = make()
    with timed() as t:
        r.index(pages)
    return t.wall, t.own_cpu, t.other_cpu


def image_only(args: argparse.Namespace) -> int:
    """Index every page by OCR (text layers ignored, cache off); pages/s, stages, nDCG@5."""
    import dataclasses

    import numpy as np

    from local_backend.pages import DEFAULT_COMPONENTS, OcrAssistedPageRetriever, ReaderSettings
    from local_backend.pages.ocr import OcrSettings
    from vertex_mm.pages.eval import load_dataset, query_metrics

    ds = load_dataset(args.dir, args.split)
    pages = ds.pages[: args.limit] if args.limit else ds.pages
    invert = None if args.invert is None else bool(args.invert)
    chosen = {"psm": args.psm, "invert": invert, "engine": args.engine}
    ocr = dataclasses.replace(OcrSettings(), **{k: v for k, v in chosen.items() if v is not None})
    reader = dataclasses.replace(ReaderSettings(force_ocr=True), **({"ocr_dpi": args.dpi} if args.dpi else {}))
    components = tuple(args.components.split(",")) if args.components else DEFAULT_COMPONENTS
    print(f"image-only: {len(pages)} pages of {args.split}, workers={args.workers}, dpi={reader.ocr_dpi}, {ocr}, "
          f"components={components}, dense_late_chunking={args.dense_late_chunking}", flush=True)

    def make() -> OcrAssistedPageRetriever:
        return OcrAssistedPageRetriever(components=components, ocr_workers=args.workers, use_ocr_cache=False,
                                        reader=reader, ocr=ocr, dense_late_chunking=args.dense_late_chunking)

    make().index(pages[:1])  # load the models once, outside the timing
    best = None
    for i in range(args.repeat):
        r = make()
        with timed() as t:
            stats = r.index(pages)
        if stats.ocr_pages != len(pages):
            raise SystemExit(f"only {stats.ocr_pages} of {len(pages)} pages went through OCR")
        stages = " ".join(f"{k} {v:.1f}s" for k, v in stats.seconds.items())
        print(f"round {i + 1}: {len(pages) / t.wall:.2f} pages/s ({t.wall:.1f}s; {stages}); cpu {t.own_cpu:.0f}s, "
              f"other processes {t.other_cpu:.0f}s ({t.other_cores:.2f} cores); "
              f"{stats.ocr_rereads} pages re-read for orientation, {stats.ocr_crashes} tesseract crashes", flush=True)
        if best is None or t.other_cpu / t.wall < best[1].other_cpu / best[1].wall:
            best = (r, t)
        if t.other_cores < 0.1:
            break
    assert best is not None
    r, t = best
    if args.save_index:
        r.save(args.save_index)
    qids = ds.query_ids
    m = query_metrics(r.score([ds.queries[q] for q in qids]), r.page_ids, qids, ds.qrels)
    ndcg = float(np.mean([m[q]["ndcg5"] for q in qids])) if len(pages) == len(ds.pages) else float("nan")
    print(f"RESULT mode=image-only split={args.split} pages={len(pages)} workers={args.workers} dpi={reader.ocr_dpi} "
          f"psm={ocr.psm} invert={int(ocr.invert)} engine={ocr.engine} pages_per_s={len(pages) / t.wall:.2f} "
          f"cpu_s_per_page={t.own_cpu / len(pages):.2f} "
          f"other_cores={t.other_cores:.2f} ndcg5={ndcg:.3f} dense_late_chunking={int(args.dense_late_chunking)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from local_backend.pages import COMPONENTS, OcrAssistedPageRetriever
    from vertex_mm.pages.eval import load_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("dir", nargs="?", default=str(ROOT / "tests" / "fixtures" / "pagesearch"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--split", default="test", help="which split's pages to index (default test)")
    ap.add_argument("--warm-ocr", action="store_true", help="use the OCR cache (times everything but tesseract)")
    ap.add_argument("--visual", action="store_true", help="compare against all four components, not OCR-every-page")
    ap.add_argument("--image-only", action="store_true", help="every page OCR'd (text layers ignored), cache off; "
                    "pages/s and nDCG@5 of the default retriever")
    ap.add_argument("--dpi", type=int, default=None, help="--image-only: render pages for OCR at this DPI")
    ap.add_argument("--psm", type=int, default=None, help="--image-only: tesseract page segmentation mode")
    ap.add_argument("--invert", type=int, choices=(0, 1), default=None, help="--image-only: tesseract's inverted-text pass")
    ap.add_argument("--engine", default=None, choices=("auto", "library", "cli"), help="--image-only: how tesseract runs")
    ap.add_argument("--components", default=None, help="--image-only: comma-separated components (default: the default)")
    ap.add_argument("--dense-late-chunking", action="store_true",
                    help="--image-only: dense passages pooled from one encoding of each page (opt-in, ~3x faster dense stage)")
    ap.add_argument("--save-index", default=None, help="--image-only: save the timed index there (to study signals)")
    ap.add_argument("--limit", type=int, default=0, help="--image-only: index only the first N pages (no nDCG)")
    args = ap.parse_args(argv)
    print(machine_line(), flush=True)
    if args.image_only:
        return image_only(args)
    pages = load_dataset(args.dir, args.split).pages
    cache = args.warm_ocr
    fused = lambda: OcrAssistedPageRetriever(ocr_workers=args.workers, use_ocr_cache=cache)  # noqa: E731
    ocr_all = lambda: OcrAssistedPageRetriever.ocr_bm25_baseline(ocr_workers=args.workers, use_ocr_cache=cache)  # noqa: E731
    ref_name = "ocr-every-page+bm25"
    if args.visual:
        ref_name = "with-visual"
        ocr_all = lambda: OcrAssistedPageRetriever(components=COMPONENTS, ocr_workers=args.workers, use_ocr_cache=cache)  # noqa: E731
    fused().index(pages[:2])  # load the models once, outside the timing
    ocr_all().index(pages[:2])
    best = None
    for i in range(args.repeat):
        fw, fo, fx = index_timed(fused, pages)
        rw, ro, rx = index_timed(ocr_all, pages)
        stolen = (fx + rx) / max(1e-9, fx + rx + fo + ro)
        print(f"round {i + 1}: ocr-fused {len(pages) / fw:.2f} pages/s (cpu {fo:.0f}s, other processes {fx:.0f}s); "
              f"{ref_name} {len(pages) / rw:.2f} pages/s (cpu {ro:.0f}s, other {rx:.0f}s); stolen {stolen:.0%}")
        if best is None or stolen < best[-1]:
            best = (fw, rw, stolen)
        if stolen < 0.10:
            break
    fw, rw, stolen = best
    print(f"RESULT pages={len(pages)} workers={args.workers} fused_pages_per_s={len(pages) / fw:.2f} "
          f"{ref_name.replace('-', '_').replace('+', '_')}_pages_per_s={len(pages) / rw:.2f}"
          f" ratio={rw / fw:.2f} stolen={stolen:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
