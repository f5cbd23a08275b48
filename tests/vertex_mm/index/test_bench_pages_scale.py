"""benchmarks/bench_pages_scale.py at a tiny scale: it builds, searches every mode, prints the
RESULT keys the README's table reads, finds screened equal to exact, and deletes its index."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_modules import import_benchmark

pytest.importorskip("torch")
pytest.importorskip("scipy")


def _bench():
    return import_benchmark("bench_pages_scale")


@pytest.mark.slow
@pytest.mark.parametrize(("pool", "workers"), [("ward", 1), ("none", 2)])
def test_the_benchmark_runs_small_and_reports_its_keys(tmp_path, capsys, pool, workers):
    bench = _bench()
    argv = ["--pages", "240", "--queries", "4", "--raw-tokens", "60", "--workers", str(workers), "--segment-pages", "100",
            "--screened-queries", "2", "--exact-queries", "1", "--pool", pool, "--dir", str(tmp_path / "work")]
    assert bench.main(argv) == 0  # non-zero when screened and exact differ
    out = capsys.readouterr().out
    result = dict(kv.split("=", 1) for kv in out.strip().splitlines()[-1].removeprefix("RESULT ").split())
    assert {"pages", "binary_p50_ms", "binary_ndcg_kept", "screened_p50_ms", "index_gb"} <= set(result)
    assert result["pages"] == "240" and result["pool"] == pool
    assert float(result["screened_ndcg_kept"]) == 1.0
    assert 0.0 < float(result["binary_ndcg_kept"]) <= 1.5 and float(result["exact_ndcg"]) > 0.0
    assert not (tmp_path / "work" / "pages.idx").exists()  # deleted without --keep


def test_pages_are_the_same_whichever_process_makes_them():
    bench = _bench()
    bench._WORLD.clear()
    bench._WORLD.update(bench.make_world(120, 2, 60, 3, pool=False))
    serial = [p for chunk in bench._chunks(120, 1) for p in chunk]
    forked = [p for chunk in bench._chunks(120, 2) for p in chunk]
    assert len(serial) == 120 and all(np.array_equal(a, b) for a, b in zip(serial, forked, strict=True))


def test_too_few_pages_for_the_planted_ones_is_refused(tmp_path):
    bench = _bench()
    with pytest.raises(SystemExit, match="too few"):
        bench.main(["--pages", "20", "--queries", "4", "--dir", str(tmp_path / "w")])
