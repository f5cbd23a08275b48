"""Page search at scale: a 100,000-page multi-vector index, every search mode, on this machine.

    python benchmarks/bench_pages_scale.py --threads 1               # 100,000 pages, Ward-pooled
    python benchmarks/bench_pages_scale.py --threads 1 --pool none   # 100,000 pages, built in ~10 min
    python benchmarks/bench_pages_scale.py --pages 2000 --pool none  # a smoke run (seconds)
    python benchmarks/bench_pages_scale.py --keep ...  then  ... --reuse   # search a kept index again

Ward pooling costs ~37 ms of CPU per 1030-token page (scipy's pdist and linkage): 100,000 pages
are ~1 hour of CPU, over 2 hours on a busy 2-core machine (3,000 pages built at 13 pages/s
there). ``--pool none`` makes each page at its pooled length directly (343 tokens from the same
generator; planted copies averaged as pooling would merge them): the same index size and
search costs, and at 3,000 pages the same nDCG@10 (0.948 both ways, binary kept 1.000).

Builds a :class:`~vertex_mm.index.MultiVectorIndex` (float16 pages, pool factor 3, binary
codes) from synthetic ColPali-like pages (``_synthetic_pages``: 128-d unit tokens around topic
concepts and shared background vectors), streamed in chunks: worker processes generate 1030-token
pages and pool them by 3 with :func:`vertex_mm.late_interaction.pooling.pool_page` (Ward, as
colpali-engine), the index stores them as given (``add(..., pooled=True)``) and saves a segment
every ``--segment-pages`` pages. Nothing holds more than a segment of pages in memory.

Queries have planted relevant pages. A query asks about 16 concepts of one topic: its 16
content tokens are each at cosine 0.75 to one of them, and 4 filler tokens sit near background
vectors (ColPali's query augmentation tokens). For each query, pages of its topic are planted
at random places in the collection with perturbed copies (cosine 0.8, 3 raw tokens each,
which pooling merges) of some of its content tokens: grade 3 holds 12 of the 16, grade 2
(two pages) 8, grade 1 (two pages) 5, and five distractors 4 each. Every other page of the
topic shares concepts with the query, so exact MaxSim ranks the graded pages near the top in
roughly their grade order, with close calls between grades and distractors.

Reported, per mode of ``MultiVectorIndex.search``: query latency p50/p95 (one query per call,
after a warm-up; ``--exact-queries`` and ``--screened-queries`` limit the slow modes), nDCG@10
against the planted grades, and "nDCG kept" = nDCG of the mode / nDCG of exact (the
exact answer is one batched ``mode="exact"`` call over all queries; screened must equal it bit
for bit, so its kept is 1.0). ``binary`` is the index's default binary search (with the
popcount kernel: 1-bit Hamming over every page, 2-bit Hamming over each query's best 1,024;
with the nibble kernel of AVX2 CPUs: 2-bit over every page; then its best 64 reranked by float
MaxSim); ``binary-1b`` the same with 1-bit queries. ``VERTEX_MM_HAMMING_KERNEL=popcount`` runs
the other kernel. Also: where a binary search spends its time (the Hamming stage and the
rest), build wall time, the index's bytes on disk, and peak RSS (``ru_maxrss``; it counts the
touched pages of the memory-mapped files) after the build, after the binary searches and at
the end, with the resident memory split into allocations and mapped files. Last, binary search
on a cold page cache: the index's files evicted from it, the index opened again, the first
query and the p50/p95 of the others (Linux: ``posix_fadvise``), without the gathers' read-ahead
hints (the reference) and with them.

On a shared machine pass ``--threads 1``: with other processes keeping the cores busy, one
thread per search was faster than two (each parallel step waits for its slowest thread).

The screened mode's copy (16-bit integers on x86 CPUs with AVX2, bfloat16 with AMX:
``screen_kind()``) would take as many bytes again as the float16 pages (8.8 GB at 100,000
pages), so by default the index is saved without it (``screen_copies=False``) and the first
screened search builds it in memory; ``--screen-copies`` saves it instead. Where no screen runs
(neither native bfloat16 nor the AVX2 integer kernel) the screened mode is the float32 scan.

The last line is ``RESULT pages=... binary_p50_ms=... binary_ndcg_kept=... screened_p50_ms=...
index_gb=... binary_cold_p50_ms=...``. The index is written under ``--dir`` and deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line, timed  # noqa: E402
from _options import benchmark_parser  # noqa: E402
from _synthetic_pages import BACKGROUND, CONCEPTS, DIM, make_vocab, near, topic_page, unit  # noqa: E402

from vertex_mm.evaluation.metrics import ndcg_at_k  # noqa: E402
from vertex_mm.index import MultiVectorIndex  # noqa: E402
from vertex_mm.late_interaction.pooling import pool_page  # noqa: E402

SPACE = f"colpali/synthetic/{DIM}"
POOL = 3
QUERY_CONTENT, QUERY_FILLER = 16, 4
#: (grade, pages per query, content tokens of the query planted in each); grade 0: distractors.
PLANTS = ((3, 1, 12), (2, 2, 8), (1, 2, 5), (0, 5, 4))
PLANT_COPIES, PLANT_COS, QUERY_COS = 3, 0.8, 0.75
K = 10
PAGES_PER_DOC = 10
CHUNK = 50  # pages per worker task

_WORLD: dict[str, Any] = {}  # set before the workers fork: the vocabulary, queries and plan


def rss_gib() -> float:
    """Peak resident memory of this process so far, GiB (Linux reports KiB). It counts the
    pages of the memory-mapped index files that searches touched, not only allocations."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_now() -> str:
    """Resident memory now: allocated (anonymous) and memory-mapped files, GiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            kib = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("RssAnon", "RssFile")}
        return f"{kib['RssAnon'] / 2**20:.2f} GiB allocated + {kib['RssFile'] / 2**20:.2f} GiB mapped files"
    except (OSError, KeyError, ValueError):
        return "?"


def page_cache_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Cached:")) / 2**20
    except (OSError, StopIteration, ValueError):
        return float("nan")


def cold_binary(folder: Path, queries: list[np.ndarray], cand: int | None,
                readahead: bool = True) -> tuple[float, np.ndarray]:
    """Binary search on a cold page cache, as after a reboot or with an index larger than the
    memory: the index's files are evicted (``posix_fadvise(DONTNEED)``, which needs no root),
    the index is opened again, then the first query (which reads every page's codes from disk)
    and each of the others (each gathers its candidates' float rows from disk) are timed.
    ``readahead=False`` turns off the gathers' read-ahead hints (the reference: a plain gather
    through the memory map, one page fault and disk read after another)."""
    import vertex_mm.late_interaction._rerank as rerank_module
    import vertex_mm.late_interaction.packed as packed_module

    hint = packed_module.advise_rows
    for module in (packed_module, rerank_module):
        module.advise_rows = hint if readahead else (lambda *a: None)  # type: ignore[assignment]
    try:
        return _cold_binary(folder, queries, cand, "read ahead with MADV_WILLNEED" if readahead else "NO read-ahead")
    finally:
        for module in (packed_module, rerank_module):
            module.advise_rows = hint  # type: ignore[assignment]


def _cold_binary(folder: Path, queries: list[np.ndarray], cand: int | None, how: str) -> tuple[float, np.ndarray]:
    import gc

    gc.collect()  # the maps of the index searched so far are gone once it is
    before = page_cache_gib()
    for f in folder.rglob("*.npy"):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages (a fresh build's) are not evicted until written
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    evicted = before - page_cache_gib()
    idx = MultiVectorIndex.load(folder, verify=False)
    with timed() as t:
        idx.search(queries[0], k=K, mode="binary", candidates=cand)
    walls, _ = latencies(idx, queries[1:], mode="binary", candidates=cand)
    print(f"# binary, cold, {how}: the index evicted from the page cache ({evicted:.1f} GiB left it), opened "
          f"again; the first query {1e3 * t.wall:.0f} ms (reads every page's codes), the next {len(walls)}: p50 "
          f"{1e3 * np.percentile(walls, 50):.0f} ms, p95 {1e3 * np.percentile(walls, 95):.0f} ms (each reads its "
          "candidates' float rows)", flush=True)
    return t.wall, walls


def make_world(n_pages: int, n_queries: int, raw_tokens: int, seed: int, pool: bool = True) -> dict[str, Any]:
    """The vocabulary, the queries with their content anchors, each page's topic, and which
    pages are planted for which query at which grade."""
    rng = np.random.default_rng(seed)
    n_topics = max(1, n_pages // 50)
    vocab = make_vocab(rng, n_topics)
    topics = rng.integers(0, n_topics, size=n_pages)
    per_query = sum(n for _, n, _ in PLANTS)
    if n_queries * per_query > n_pages:
        raise SystemExit(f"--pages {n_pages} is too few for {n_queries} queries x {per_query} planted pages")
    slots = rng.choice(n_pages, size=n_queries * per_query, replace=False)
    queries, anchors, grades = [], [], []
    plan: dict[int, tuple[int, int]] = {}  # page -> (query, planted content tokens)
    s = 0
    for q in range(n_queries):
        topic = int(rng.integers(n_topics))
        content = near(rng, vocab["concepts"][topic, rng.choice(CONCEPTS, QUERY_CONTENT, replace=False)], QUERY_COS)
        filler = near(rng, vocab["background"][rng.integers(0, BACKGROUND, QUERY_FILLER)], 0.8)
        queries.append(np.concatenate([filler, content]))
        anchors.append(content)
        g: dict[int, int] = {}
        for grade, count, n_planted in PLANTS:
            for page in slots[s : s + count]:
                plan[int(page)] = (q, n_planted)
                topics[page] = topic
                if grade > 0:
                    g[int(page)] = grade
            s += count
        grades.append(g)
    return {"vocab": vocab, "topics": topics, "queries": queries, "anchors": anchors, "grades": grades, "plan": plan,
            "raw_tokens": raw_tokens, "seed": seed, "pool": pool}


def _chunk(start: int) -> list[np.ndarray]:
    """Pages ``start .. start + CHUNK`` (pooled, float16), the same whichever process makes them."""
    w = _WORLD
    rng = np.random.default_rng([w["seed"], 1, start])
    out = []
    for page in range(start, min(start + CHUNK, len(w["topics"]))):
        extra = None
        if page in w["plan"]:
            q, n_planted = w["plan"][page]
            picked = w["anchors"][q][rng.choice(QUERY_CONTENT, n_planted, replace=False)]
            extra = near(rng, np.repeat(picked, PLANT_COPIES, axis=0), PLANT_COS)
        if w["pool"]:
            raw = topic_page(rng, w["vocab"], int(w["topics"][page]), w["raw_tokens"], extra=extra)
            out.append(pool_page(raw, POOL).astype(np.float16))
        else:  # made at the pooled length; planted copies as pooling would leave them, one each
            pooled = None if extra is None else extra.reshape(-1, PLANT_COPIES, DIM).mean(axis=1)
            out.append(topic_page(rng, w["vocab"], int(w["topics"][page]), w["raw_tokens"] // POOL,
                                  extra=None if pooled is None else unit(pooled)).astype(np.float16))
    return out


def _chunks(n_pages: int, workers: int) -> Iterator[list[np.ndarray]]:
    """The chunks in order; at most ``2 * workers`` are made ahead of the consumer (``Pool.imap``
    would queue every finished chunk in this process while a segment is being saved)."""
    starts = range(0, n_pages, CHUNK)
    if workers <= 1:
        yield from map(_chunk, starts)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        ahead: deque[Any] = deque()
        for start in starts:
            ahead.append(pool.apply_async(_chunk, (start,)))
            if len(ahead) >= 2 * workers:
                yield ahead.popleft().get()
        while ahead:
            yield ahead.popleft().get()


def build(world: dict[str, Any], folder: Path, args: argparse.Namespace) -> MultiVectorIndex:
    """Generate, pool and save the pages segment by segment; returns the index reloaded
    (memory maps, as a search process opens it)."""
    n_pages = len(world["topics"])
    idx = MultiVectorIndex(SPACE, dtype="float16", pool_factor=POOL if args.pool == "ward" else 1, binary=True,
                           screen_copies=args.screen_copies)
    idx.save(folder)
    doc: list[np.ndarray] = []
    done = pending = 0
    t0 = time.perf_counter()
    for pages in _chunks(n_pages, args.workers):
        for page in pages:
            doc.append(page)
            if len(doc) == PAGES_PER_DOC or done + len(doc) == n_pages:
                idx.add(f"doc{done // PAGES_PER_DOC:06d}", doc, pooled=True)
                done, pending, doc = done + len(doc), pending + len(doc), []
        if pending >= args.segment_pages or done == n_pages:
            idx.save()
            pending = 0
            el = time.perf_counter() - t0
            print(f"#   {done:,} pages saved in {el:.0f} s ({done / el:.0f} pages/s), peak RSS {rss_gib():.1f} GiB",
                  flush=True)
    return MultiVectorIndex.load(folder, verify=False)


def disk_bytes(folder: Path) -> dict[str, int]:
    """Bytes on disk by kind of file (tokens, codes, screen, other)."""
    out = {"tokens": 0, "codes": 0, "screen": 0, "other": 0}
    for f in folder.rglob("*"):
        if f.is_file():
            kind = "tokens" if f.name == "tokens.npy" else "codes" if f.name == "codes.npy" else \
                "screen" if f.name.startswith("screen-") else "other"
            out[kind] += f.stat().st_size
    return out


def latencies(idx: MultiVectorIndex, queries: list[np.ndarray], **kw: Any) -> tuple[np.ndarray, float]:
    """Wall seconds of one ``search`` call per query, and the share of the CPUs other
    processes used meanwhile."""
    walls, other = [], 0.0
    for q in queries:
        with timed() as t:
            idx.search(q, k=K, **kw)
        walls.append(t.wall)
        other += t.other_cpu
    return np.array(walls), other / max(sum(walls) * (os.cpu_count() or 1), 1e-9)


def ndcg(hits: list[list[Any]], grades: list[dict[int, int]], ids: dict[str, int]) -> float:
    return float(np.mean([ndcg_at_k([ids[h.page_id] for h in row], g, K) for row, g in zip(hits, grades)]))


def _binary_profile(idx: MultiVectorIndex, queries: list[np.ndarray], candidates: int) -> str:
    """Where a binary search spends its time (medians over ``queries``, one query per call):
    the 1-bit Hamming pass over every page, the same with 2-bit queries, and the whole search
    as the index runs it (the 2-bit pass, or with an opt-in ``binary_prefilter`` and the
    popcount kernel the 1-bit pass and 2-bit on the prefiltered pages; then top candidates,
    gather, float rerank)."""
    from vertex_mm.late_interaction.binary import hamming_maxsim

    segs = [s for s in idx._all_segments() if s.live.any()]
    one, two, whole = [], [], []
    for q in queries:
        for bits, out in ((1, one), (2, two)):
            t0 = time.perf_counter()
            for s in segs:
                hamming_maxsim([q], s.binary, query_bits=bits)  # type: ignore[arg-type]
            out.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        idx.search(q, k=K, mode="binary", candidates=candidates)
        whole.append(time.perf_counter() - t0)
    h1, h2, w = (float(np.median(x)) for x in (one, two, whole))
    from vertex_mm.index.multivector import DEFAULT_CANDIDATES
    from vertex_mm.late_interaction.binary import hamming_kernel, prefilter_size

    n_cand = DEFAULT_CANDIDATES["binary"] if candidates is None else candidates
    n_pre = prefilter_size(len(idx), max(n_cand, K), idx.binary_prefilter, dim=idx.dimension)
    pairs = sum(int(s.binary.codes.shape[0]) for s in segs) * len(queries[0])  # type: ignore[union-attr]
    first, h_first = ("1-bit", h1) if n_pre else ("2-bit", h2)
    stage = f"2-bit on the best {n_pre} pages, " if n_pre else ""
    return (f"{hamming_kernel()} kernel: 1-bit Hamming over all pages {1e3 * h1:.0f} ms ({pairs / h1 / 1e9:.2f} G token "
            f"pairs/s, {len(segs)} segments), 2-bit over all pages {1e3 * h2:.0f} ms ({pairs / h2 / 1e9:.2f} G/s); the "
            f"default search {1e3 * w:.0f} ms = the {first} pass + ~{1e3 * max(w - h_first, 0):.0f} ms ({stage}top-{n_cand}, "
            "gather, float rerank)")


def main(argv: list[str] | None = None) -> int:
    ap = benchmark_parser(__doc__, pages=100_000, segment_pages=10_000, seed=0)
    ap.add_argument("--queries", type=int, default=32, help="queries for nDCG and the binary latencies")
    ap.add_argument("--screened-queries", type=int, default=8, help="queries timed one call each, screened")
    ap.add_argument("--exact-queries", type=int, default=3, help="queries timed one call each, exact")
    ap.add_argument("--candidates", type=int, default=None, help="binary rerank candidates (default: the index's)")
    ap.add_argument("--binary-prefilter", type=int, default=None,
                    help="pages per query the 1-bit prefilter keeps, at least 8 per candidate (default: the index's)")
    ap.add_argument("--raw-tokens", type=int, default=1030, help="tokens per page before pooling by 3")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating and pooling pages")
    ap.add_argument("--screen-copies", action="store_true", help="save the screened copy (bfloat16 or int16) with each segment")
    ap.add_argument("--pool", choices=("ward", "none"), default="ward",
                    help="ward: make --raw-tokens per page and pool them by 3 with pool_page (~37 ms of CPU a page); "
                         "none: make pages of raw-tokens/3 tokens directly (same sizes, for a quick large build)")
    ap.add_argument("--threads", type=int, default=0, help="torch and numba threads (0: their defaults)")
    ap.add_argument("--reuse", action="store_true", help="search the index a --keep run left in --dir (same "
                    "--pages, --queries, --raw-tokens, --pool, --seed) instead of building one")
    ap.add_argument("--dir", default="/tmp/pages_scale", help="where the index is written")
    ap.add_argument("--keep", action="store_true", help="keep the index it builds (default: deleted at the end; "
                    "an index opened with --reuse is never deleted)")
    args = ap.parse_args(argv)
    folder = Path(args.dir) / "pages.idx"
    made = {k: getattr(args, k) for k in ("pages", "queries", "raw_tokens", "pool", "seed")}
    if args.reuse:
        if not folder.exists() or json.loads((Path(args.dir) / "bench-args.json").read_text()) != made:
            raise SystemExit(f"--reuse: {folder} was not left by a --keep run with {made}")
    elif folder.exists():
        raise SystemExit(f"{folder} exists; remove it, pass another --dir, or --reuse it")
    if args.threads:
        import numba
        import torch

        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    print(machine_line(), flush=True)
    world = make_world(args.pages, args.queries, args.raw_tokens, args.seed, args.pool == "ward")
    _WORLD.clear()
    _WORLD.update(world)
    how = f"x {args.raw_tokens} tokens pooled by {POOL}" if args.pool == "ward" else \
        f"made at {args.raw_tokens // POOL} tokens (--pool none)"
    print(f"# {args.pages:,} pages {how}, {args.queries} queries x "
          f"{QUERY_CONTENT + QUERY_FILLER} tokens, {sum(n for _, n, _ in PLANTS)} planted pages per query; "
          f"{args.workers} workers, segments of {args.segment_pages:,} pages, seed {args.seed}", flush=True)
    try:
        with timed() as tb:
            if args.reuse:
                idx = MultiVectorIndex.load(folder, verify=False)
            else:
                Path(args.dir).mkdir(parents=True, exist_ok=True)
                (Path(args.dir) / "bench-args.json").write_text(json.dumps(made))
                idx = build(world, folder, args)
        rss_build = rss_gib()
        sizes = disk_bytes(folder)
        total = sum(sizes.values())
        st = idx.stats()
        print(f"# {'opened' if args.reuse else 'built'} in {tb.wall:.0f} s (CPU of this process and its workers "
              f"{tb.own_cpu:.0f} s; others used "
              f"{100 * tb.other_cpu / (tb.wall * (os.cpu_count() or 1)):.0f}% of the CPUs); {st['tokens']:,} tokens "
              f"({st['tokens'] / st['pages']:.0f}/page), {st['segments']} segments; on disk {total / 1e9:.2f} GB: "
              + ", ".join(f"{k} {v / 1e9:.2f}" for k, v in sizes.items()), flush=True)
        ids = {pid: i for i, pid in enumerate(idx.page_ids())}
        queries, grades = world["queries"], world["grades"]
        cand = args.candidates
        if args.binary_prefilter is not None:
            idx.binary_prefilter = args.binary_prefilter

        idx.search(queries[0], k=K, mode="binary", candidates=cand)  # warm-up: compile cache, memory maps
        bin_t, bin_other = latencies(idx, queries, mode="binary", candidates=cand)
        bin_hits = idx.search(queries, k=K, mode="binary", candidates=cand)
        b1_t, b1_other = latencies(idx, queries, mode="binary", candidates=cand, query_bits=1)
        b1_hits = idx.search(queries, k=K, mode="binary", candidates=cand, query_bits=1)
        rss_binary, now_binary = rss_gib(), rss_now()
        print(f"# binary profile: {_binary_profile(idx, queries[:8], cand or 64)}", flush=True)

        with timed() as te:
            exact_hits = idx.search(queries, k=K, mode="exact")
        print(f"# exact, all {len(queries)} queries in one call: {te.wall:.1f} s", flush=True)
        ex_t, ex_other = latencies(idx, queries[: args.exact_queries], mode="exact")
        with timed() as tw:
            screened_hits = idx.search(queries, k=K, mode="screened")  # builds the in-memory copy when not saved
        print(f"# screened, all {len(queries)} queries in one call (first screened search: builds the copy when not "
              f"saved): {tw.wall:.1f} s; identical to exact: {screened_hits == exact_hits}", flush=True)
        sc_t, sc_other = latencies(idx, queries[: args.screened_queries], mode="screened")
        del idx  # the cold runs open the index afresh: pages still mapped here could not be evicted
        nan = (float("nan"), np.array([np.nan]))
        can_evict = hasattr(os, "posix_fadvise")  # not on macOS or Windows: no cold runs there
        plain_first, plain_t = cold_binary(folder, queries, cand, readahead=False) if can_evict else nan
        cold_first, cold_t = cold_binary(folder, queries, cand) if can_evict else nan

        n_exact = ndcg(exact_hits, grades, ids)
        n_bin, n_scr, n_b1 = ndcg(bin_hits, grades, ids), ndcg(screened_hits, grades, ids), ndcg(b1_hits, grades, ids)
        overlap = np.mean([len({h.page_id for h in a} & {h.page_id for h in b}) / K for a, b in zip(bin_hits, exact_hits)])
        print(f"\n{'mode':<10}{'queries':>8}{'p50 ms':>9}{'p95 ms':>9}{'nDCG@10':>9}{'kept':>7}{'others%':>9}")
        for name, t, other, n in (("binary", bin_t, bin_other, n_bin), ("binary-1b", b1_t, b1_other, n_b1),
                                  ("screened", sc_t, sc_other, n_scr),
                                  ("exact", ex_t, ex_other, n_exact)):
            print(f"{name:<10}{len(t):>8}{1e3 * np.percentile(t, 50):>9.0f}{1e3 * np.percentile(t, 95):>9.0f}"
                  f"{n:>9.3f}{n / n_exact:>7.3f}{100 * other:>8.0f}%")
        print(f"binary top-10 holds {100 * overlap:.1f}% of the exact top-10; peak RSS: after build {rss_build:.2f} GiB, "
              f"after binary searches {rss_binary:.2f} GiB (resident then: {now_binary}), at the end {rss_gib():.2f} GiB "
              f"(resident: {rss_now()}; the screened copy built in memory is 2 bytes per stored value)")
        print(f"RESULT pages={args.pages} binary_p50_ms={1e3 * np.percentile(bin_t, 50):.1f} "
              f"binary_p95_ms={1e3 * np.percentile(bin_t, 95):.1f} binary_ndcg_kept={n_bin / n_exact:.3f} "
              f"binary1b_p50_ms={1e3 * np.percentile(b1_t, 50):.1f} binary1b_ndcg_kept={n_b1 / n_exact:.3f} "
              f"screened_p50_ms={1e3 * np.percentile(sc_t, 50):.1f} screened_p95_ms={1e3 * np.percentile(sc_t, 95):.1f} "
              f"screened_ndcg_kept={n_scr / n_exact:.3f} exact_p50_ms={1e3 * np.percentile(ex_t, 50):.1f} "
              f"exact_ndcg={n_exact:.3f} index_gb={total / 1e9:.2f} {'open_s' if args.reuse else 'build_s'}={tb.wall:.0f} "
              f"rss_binary_gib={rss_binary:.2f} rss_peak_gib={rss_gib():.2f} tokens_per_page={st['tokens'] / st['pages']:.0f} "
              f"pool={args.pool} threads={args.threads or 'default'} reused={int(args.reuse)} "
              f"binary_cold_first_ms={1e3 * cold_first:.0f} binary_cold_p50_ms={1e3 * np.percentile(cold_t, 50):.1f} "
              f"binary_cold_noreadahead_p50_ms={1e3 * np.percentile(plain_t, 50):.1f}")
        return 0 if screened_hits == exact_hits else 1
    finally:
        # Only an index this run built is deleted: a reused one was kept by an earlier run on
        # purpose (hours of Ward pooling at 100,000 pages), --keep or not.
        if not args.keep and not args.reuse:
            shutil.rmtree(folder, ignore_errors=True)
            (Path(args.dir) / "bench-args.json").unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
