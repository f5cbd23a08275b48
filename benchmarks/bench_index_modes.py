"""MultiVectorIndex search modes: the certified screened path against the plain float32 scan.

Builds a saved index of synthetic pages (default 2,000 pages of ~300 tokens, 128-d, float16 as
the index stores them), reloads it, and times ``search(mode="exact")`` and
``search(mode="screened")`` (the screened copy read from the saved segment, warmed by one
search first) on the same queries, fastest of ``--rounds``. Checks that the screened answer is
bit-identical (pages, order, float32 scores) and prints the ratio. ``--pages`` takes several
sizes to find the crossover (the screen is forced on at every size here; the index itself scans
small segments exactly, see ``MultiVectorIndex.screen_pages_per_k``). The last line is
``RESULT pages=... exact_ms=... screened_ms=... speedup=... cpu_speedup=... identical=...`` for
the largest size. On a shared machine, ``--threads 1`` gives the steadiest figures.

    python benchmarks/bench_index_modes.py --pages 500 2000 --queries 8
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _machine import busy_seconds, machine_line, own_seconds  # noqa: E402
from _options import benchmark_parser

from vertex_mm.index import MultiVectorIndex  # noqa: E402
from vertex_mm.results import EmbeddingSpace  # noqa: E402


def _pages(rng: np.random.Generator, n: int, tokens: int, dim: int) -> list[np.ndarray]:
    out = []
    for length in rng.integers(int(tokens * 0.8), int(tokens * 1.2) + 1, size=n):
        x = rng.standard_normal((int(length), dim)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, float]]:
    """Fastest wall time and fastest own CPU time of each function, rounds interleaved so that
    load from other processes on a shared machine falls on every method alike."""
    best = {name: (float("inf"), float("inf")) for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            c0, t0 = own_seconds(), time.perf_counter()
            fn()
            wall, cpu = time.perf_counter() - t0, own_seconds() - c0
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def run(n_pages: int, args: argparse.Namespace, root: pathlib.Path) -> dict[str, float]:
    rng = np.random.default_rng(args.seed)
    space = EmbeddingSpace("bench", "synthetic-mv", args.dim)
    idx = MultiVectorIndex(space, binary=False)
    pages = _pages(rng, n_pages, args.tokens, args.dim)
    for d in range(0, n_pages, 10):
        idx.add(f"doc{d}", pages[d : d + 10])
    t0 = time.perf_counter()
    idx.save(root / f"idx-{n_pages}")
    save_s = time.perf_counter() - t0
    idx = MultiVectorIndex.load(root / f"idx-{n_pages}")
    idx.screen_pages_per_k = 0  # time the screen itself at every size, not the index's choice
    queries = []
    for t in rng.choice(n_pages, size=args.queries, replace=False):
        q = pages[t][rng.choice(len(pages[t]), size=args.query_tokens, replace=False)]
        q = q + 0.5 * rng.standard_normal(q.shape).astype(np.float32) / np.sqrt(args.dim)
        queries.append((q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32))
    exact = idx.search(queries, k=args.k, mode="exact")
    screened = idx.search(queries, k=args.k, mode="screened")  # warms the copy read from disk
    identical = exact == screened
    busy0, own0 = busy_seconds(), own_seconds()
    best = _interleaved({m: (lambda m=m: idx.search(queries, k=args.k, mode=m)) for m in ("exact", "screened")},
                        args.rounds)
    (t_exact, c_exact), (t_screen, c_screen) = best["exact"], best["screened"]
    busy = (busy_seconds() - busy0) - (own_seconds() - own0)
    print(f"pages={n_pages} tokens~{args.tokens} dim={args.dim} queries={args.queries}x{args.query_tokens} "
          f"k={args.k}: exact {t_exact * 1e3:.1f} ms, screened {t_screen * 1e3:.1f} ms, "
          f"speedup {t_exact / t_screen:.2f}x (CPU time: exact {c_exact * 1e3:.0f} ms, screened {c_screen * 1e3:.0f} ms, "
          f"{c_exact / c_screen:.2f}x), identical={identical}, save {save_s:.1f} s, others' CPU {busy:.1f} s", flush=True)
    return {"pages": n_pages, "exact_ms": t_exact * 1e3, "screened_ms": t_screen * 1e3,
            "speedup": t_exact / t_screen, "cpu_speedup": c_exact / c_screen, "identical": float(identical)}


def main(argv: list[str] | None = None) -> int:
    ap = benchmark_parser(__doc__, tokens=300, dim=128, queries=8, query_tokens=20, k=10, rounds=3, seed=0)
    ap.add_argument("--pages", type=int, nargs="+", default=[2000])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 gives CPU times "
                    "free of thread spin-waiting on a busy machine")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(n, args, pathlib.Path(tmp)) for n in args.pages]
    last = results[-1]
    print(f"RESULT pages={last['pages']} exact_ms={last['exact_ms']:.1f} screened_ms={last['screened_ms']:.1f} "
          f"speedup={last['speedup']:.2f} cpu_speedup={last['cpu_speedup']:.2f} identical={bool(last['identical'])}")
    return 0 if all(r["identical"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
