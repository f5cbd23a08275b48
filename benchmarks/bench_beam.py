"""The Beam transform vs the ``vertex-mm embed`` CLI: the same images, the same emulator, the same quota.

The emulator (in this process, real HTTP on 127.0.0.1) answers each ``:predict`` after
``--latency-ms`` (150) and enforces a quota of ``--quota-rpm`` (600) requests a minute over a
sliding ``--quota-window`` (10 s: 100 admitted per window; answering 429 with Retry-After). The
window is short so that a 300-image job outlasts it and the quota binds (with 60 s it never
refused a request); the run exits 1 if it did not, and counts quota refusals apart from other
429s. Each side gets a fresh emulator, so neither inherits the other's quota window. Both embed
the same ``--images`` (300) real JPEG files:

(a) beam: ``EmbedImages("vertex", quota=WorkerQuota(quota_rpm))`` on the DirectRunner (one SDK
    process, so its share is the whole quota), writing embeddings and dead-letter JSONL files;
    timed from building the pipeline to the files being written;
(b) cli: ``vertex-mm embed FOLDER --out FILE --rpm QUOTA`` (called in this process, so both
    sides pay no interpreter start-up), timed the same way.

Imports (Beam, google-cloud-aiplatform's gapic package) happen before either timing: they are
the same for both and would otherwise be charged to whichever side runs first.

For each it prints successful embeddings per second as a fraction of the quota (quota/60 per
second), over the whole run and over the service-busy span (first request to last answer,
from the emulator's counters), the failed and lost inputs (lost: in neither output), and
Beam's overhead: its extra wall time over the CLI's. ``lost`` counts inputs missing from the
output files, read back after each run.

Why "of the quota" can pass 1.0 a little: the client's token bucket starts with one second's
worth of requests, so a run of ``wall`` seconds may reach ``1 + 1 s / wall`` of the quota. Above
that plus ``--max-quota-fraction``'s slack (1.02) a side ran faster than the quota allows; the run
exits 1 then, and when a side lost or failed inputs.

CPU time used by other processes during each timing comes from /proc/stat (busy time of all
CPUs minus this process's own); a round where others kept more than ``--quiet-cores`` cores
busy on average is repeated, up to ``--max-rounds``, and the quietest round is reported.

Runs in an interpreter with Apache Beam: ``$(python tests/vertex_mm/beam/vmm_beam_venv.py) benchmarks/bench_beam.py``.
The last line is ``RESULT beam_quota_fraction=… cli_quota_fraction=… lost=…``.
"""

from __future__ import annotations

import argparse
import glob
import json
import pathlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from _machine import Timing, machine_line, timed  # benchmarks/ is on sys.path when run as a script
from _options import benchmark_parser
from _quota import quota_binds, quota_problems


class BusySpan:
    """First request to last answer, as the emulator's counters show them (polled every 5 ms)."""

    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self.stats = stats
        self.first: float | None = None
        self.last: float | None = None
        self._done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            s = self.stats()
            now = time.perf_counter()
            if self.first is None and s["requests"] > 0:
                self.first = now
            answered = s["requests"] - s["in_flight"]
            if answered != self._done:
                self._done, self.last = answered, now

    def __enter__(self) -> "BusySpan":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return (self.last - self.first) if self.first is not None and self.last is not None else float("nan")


# -- inputs --------------------------------------------------------------------------------


def make_images(folder: pathlib.Path, n: int) -> list[pathlib.Path]:
    """``n`` distinct real JPEGs (a gradient with the index drawn in, so every file differs)."""
    from PIL import Image, ImageDraw

    paths = []
    for i in range(n):
        img = Image.new("RGB", (96, 64), (i * 37 % 256, i * 91 % 256, i * 13 % 256))
        ImageDraw.Draw(img).text((4, 4), f"{i:04d}", fill=(255, 255, 255))
        path = folder / f"img_{i:04d}.jpg"
        img.save(path, format="JPEG", quality=85)
        paths.append(path)
    return paths


# -- the two sides -------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    n: int
    embedded: int
    failed: int
    lost: int
    timing: Timing
    busy_s: float
    startup_s: float
    quota_rpm: float
    stats: dict[str, int]
    quota_429: int = 0

    @property
    def quota_fraction(self) -> float:
        return self.embedded / self.timing.wall / (self.quota_rpm / 60.0)

    @property
    def busy_quota_fraction(self) -> float:
        return self.embedded / self.busy_s / (self.quota_rpm / 60.0)

    def row(self) -> str:
        return (f"{self.name:5s} {self.timing.wall:7.2f} s  {self.quota_fraction:6.3f} of quota  "
                f"(start-up {self.startup_s:5.2f} s, busy span {self.busy_s:6.2f} s: {self.busy_quota_fraction:5.3f})  "
                f"embedded={self.embedded} "
                f"failed={self.failed} lost={self.lost}  429s={self.stats.get('429', 0)} (quota {self.quota_429})  "
                f"other procs {self.timing.other_cores:4.2f} cores")


def _read_ids(pattern: str, key: str = "id") -> list[str]:
    ids = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            ids += [json.loads(line)[key] for line in f if line.strip()]
    return ids


def run_beam(paths: list[pathlib.Path], out: pathlib.Path, args: argparse.Namespace) -> Outcome:
    import apache_beam as beam

    from vertex_mm.beam import EmbedImages, WorkerQuota, WriteJsonl
    from vertex_mm.emulator import run_emulator

    inputs = [str(p) for p in paths]
    with run_emulator(latency=args.latency_ms / 1000, quota_rpm=args.quota_rpm, quota_window=args.quota_window,
                      backend="hashed") as emu:
        with BusySpan(emu.stats) as span, timed() as t:
            t0 = time.perf_counter()
            with beam.Pipeline() as p:
                result = p | beam.Create(inputs, reshuffle=False) | EmbedImages(
                    "vertex", embedder_options={"api_endpoint": emu.url}, dimension=args.dimension,
                    quota=WorkerQuota(quota_rpm=args.quota_rpm))
                result.embeddings | "emb" >> WriteJsonl(str(out / "embeddings"))
                result.dead_letter | "dead" >> WriteJsonl(str(out / "dead_letter"))
        stats = emu.stats()
    embedded = _read_ids(str(out / "embeddings-*.jsonl"))
    dead = _read_ids(str(out / "dead_letter-*.jsonl"))
    lost = len(set(inputs) - set(embedded) - set(dead)) + (len(embedded) + len(dead) - len(set(embedded + dead)))
    return Outcome("beam", len(inputs), len(embedded), len(dead), lost, t, span.seconds, (span.first or t0) - t0,
                   args.quota_rpm, stats, stats["quota_429"])


def run_cli(folder: pathlib.Path, paths: list[pathlib.Path], out: pathlib.Path, args: argparse.Namespace) -> Outcome:
    from vertex_mm.cli import main as cli_main
    from vertex_mm.emulator import run_emulator

    target = out / "cli.jsonl"
    with run_emulator(latency=args.latency_ms / 1000, quota_rpm=args.quota_rpm, quota_window=args.quota_window,
                      backend="hashed") as emu:
        with BusySpan(emu.stats) as span, timed() as t:
            t0 = time.perf_counter()
            code = cli_main(["embed", str(folder), "--out", str(target), "--backend", "vertex",
                             "--api-endpoint", emu.url, "--rpm", str(args.quota_rpm),
                             "--dimension", str(args.dimension), "--no-progress"])
        stats = emu.stats()
    rows = [json.loads(line) for line in target.read_text().splitlines() if line.strip()]
    done = {r["id"] for r in rows}
    errors_file = pathlib.Path(str(target) + ".errors.jsonl")
    failed = len(errors_file.read_text().splitlines()) if errors_file.exists() else 0
    wanted = {str(p) for p in paths}
    # The CLI's ids are the paths as it found them; compare by file name to be safe about prefixes.
    names = {pathlib.Path(i).name for i in done}
    lost = len({pathlib.Path(w).name for w in wanted} - names) - failed + (len(rows) - len(done))
    if code not in (0, 1):
        raise RuntimeError(f"vertex-mm embed exited {code}")
    return Outcome("cli", len(paths), len(rows), failed, max(lost, 0), t, span.seconds, (span.first or t0) - t0,
                   args.quota_rpm, stats, stats["quota_429"])


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, images=300, latency_ms=150.0, quota_rpm=600, dimension=1408, max_rounds=2)
    parser.add_argument("--quiet-cores", type=float, default=0.5, help="repeat a round if others used more")
    parser.add_argument("--quota-window", type=float, default=10.0, help="seconds of the emulator's sliding quota window")
    parser.add_argument("--max-quota-fraction", type=float, default=1.02,
                        help="a side overran the quota above this share of it plus one second's burst over its run")
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        print("needs Apache Beam: run with $(python tests/vertex_mm/beam/vmm_beam_venv.py) benchmarks/bench_beam.py",
              file=sys.stderr)
        return 2
    import logging

    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    # Both sides build the same gapic client, whose package import takes seconds (it loads every
    # Vertex AI service). Whichever side ran first would pay it: import it before any timing.
    import google.cloud.aiplatform_v1  # noqa: F401

    import vertex_mm.beam.transforms  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="bench_beam_") as tmp:
        root = pathlib.Path(tmp)
        folder = root / "images"
        folder.mkdir()
        paths = make_images(folder, args.images)
        print(f"{args.images} JPEGs, emulator latency {args.latency_ms:g} ms, quota {args.quota_rpm} rpm "
              f"(ideal: {args.images / (args.quota_rpm / 60):.1f} s)")
        best: tuple[Outcome, Outcome] | None = None
        for round_no in range(1, args.max_rounds + 1):
            out = root / f"round{round_no}"
            out.mkdir()
            beam_out = run_beam(paths, out, args)
            cli_out = run_cli(folder, paths, out, args)
            print(f"round {round_no}:")
            print("  " + beam_out.row())
            print("  " + cli_out.row())
            noise = max(beam_out.timing.other_cores, cli_out.timing.other_cores)
            if best is None or noise < max(best[0].timing.other_cores, best[1].timing.other_cores):
                best = (beam_out, cli_out)
            if noise <= args.quiet_cores:
                break
            more = "repeating" if round_no < args.max_rounds else "keeping the quietest round"
            print(f"  others kept {noise:.2f} cores busy (> {args.quiet_cores}); {more}")
    assert best is not None
    b, c = best
    overhead_s = b.timing.wall - c.timing.wall
    print(f"Beam overhead: {overhead_s:+.2f} s over the CLI ({b.timing.wall / c.timing.wall - 1:+.1%} wall time); "
          f"beam/cli throughput ratio {b.quota_fraction / c.quota_fraction:.3f}")
    binds = quota_binds(args.images, args.quota_rpm, args.quota_window)
    failed = [] if binds else [f"the run is too short for the quota to bind ({args.images} images, "
                               f"{round(args.quota_rpm * args.quota_window / 60)} admitted per {args.quota_window:g} s window)"]
    for o in (b, c):
        failed += [f"{o.name}: {n} {what}" for n, what in ((o.lost, "lost"), (o.failed, "failed")) if n]
        failed += [f"{o.name}: {p}" for p in quota_problems(o.quota_fraction, o.timing.wall, args.max_quota_fraction)]
    for line in failed:
        print(f"FAILED: {line}")
    print(f"RESULT beam_quota_fraction={b.quota_fraction:.3f} cli_quota_fraction={c.quota_fraction:.3f} "
          f"lost={b.lost + c.lost} beam_lost={b.lost} cli_lost={c.lost} beam_overhead_s={overhead_s:.2f} "
          f"beam_busy_quota_fraction={b.busy_quota_fraction:.3f} beam_failed={b.failed} cli_failed={c.failed} "
          f"beam_quota_429={b.quota_429} cli_quota_429={c.quota_429} quota_binds={int(binds)} "
          f"quota_window_s={args.quota_window:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
