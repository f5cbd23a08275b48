"""The benchmarks at their smallest sizes: they run, print the RESULT keys the README reads, and
exit non-zero when their own checks fail."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from benchmark_modules import import_benchmark


def _result(out: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in out.strip().splitlines()[-1].removeprefix("RESULT ").split())


def _colpali_reference_here() -> bool:
    ref = import_benchmark("_colpali_reference")
    from vertex_mm._paths import cache_dir

    return importlib.util.find_spec("colpali_engine") is not None or ref.newest_wheel(cache_dir("bench", "colpali-engine")) \
        is not None


@pytest.fixture
def no_stand_in_left():
    """bench_maxsim loads colpali-engine's scorer from its wheel under a stand-in
    ``colpali_engine`` package; the other tests must not find it in ``sys.modules``."""
    before = {name for name in sys.modules if name.split(".")[0] == "colpali_engine"}
    yield
    for name in [n for n in sys.modules if n.split(".")[0] == "colpali_engine" and n not in before]:
        del sys.modules[name]


# 200 pages of 128 tokens: fewer random rivals than the default shape, so the planted pages are
# placed lower (0.35) to stay hard for the Hamming stage alone and right for float32 MaxSim.
SMALL_MAXSIM = ["--pages", "200", "--tokens", "128", "--queries", "8", "--plant-cos", "0.35", "--max-rounds", "1",
                "--min-rounds", "1", "--bandwidth-gib", "0.05"]


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "code"), [([], 0), (["--candidates", "5"], 1), (["--plant-cos", "0.6"], 1)])
def test_bench_maxsim_ndcg_check_can_fail(capsys, no_stand_in_left, extra, code):
    pytest.importorskip("torch")
    if not _colpali_reference_here():
        pytest.skip("colpali-engine's wheel is not cached (the benchmark would fetch it)")
    assert import_benchmark("bench_maxsim").main(SMALL_MAXSIM + extra) == code
    out = capsys.readouterr().out
    result = _result(out)
    assert result["exact_identical"] == "1" and result["reference_version"] not in ("none", "")
    if extra[:1] == ["--candidates"]:  # 5 candidates: the rerank cannot recover what the Hamming stage put lower
        assert float(result["binary_ndcg_kept"]) < 0.95 and "FAILED: binary keeps" in out
    elif extra:  # easy data: the check would be vacuous, and says so
        assert float(result["hamming_ndcg_kept"]) >= 0.95 and "too easy" in out
    else:
        assert float(result["binary_ndcg_kept"]) >= 0.95 > float(result["hamming_ndcg_kept"])


@pytest.mark.slow
def test_bench_muvera_times_the_exact_scan_and_the_screened_default(tmp_path, capsys):
    pytest.importorskip("torch")
    bench = import_benchmark("bench_muvera")
    argv = ["--quick", "--pages", "300", "--queries", "4", "--latency-queries", "2", "--candidates", "64",
            "--segment-pages", "150", "--rounds", "1", "--threads=1", "--workdir", str(tmp_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    result = _result(out)
    assert result["pages"] == "300"  # --quick no longer overrides an explicit --pages
    assert result["baseline"] == "exact" and result["screened_identical"] == "1" and result["threads"] == "1"
    assert {"muvera_speedup", "muvera_speedup_vs_screened", "exact_ms", "screened_ms"} <= set(result)
    assert "exact-1" in out and "screened-1" in out


@pytest.mark.slow
def test_bench_pages_scale_reuse_keeps_the_index(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("scipy")
    bench = import_benchmark("bench_pages_scale")
    argv = ["--pages", "240", "--queries", "4", "--raw-tokens", "60", "--workers", "1", "--segment-pages", "120",
            "--screened-queries", "1", "--exact-queries", "1", "--pool", "none", "--dir", str(tmp_path)]
    assert bench.main([*argv, "--keep"]) == 0
    assert bench.main([*argv, "--reuse"]) == 0  # without --keep
    assert (tmp_path / "pages.idx").exists() and (tmp_path / "bench-args.json").exists()
    assert _result(capsys.readouterr().out)["reused"] == "1"


@pytest.mark.slow
def test_bench_local_compares_pipelines_that_compute_the_same_vectors(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("skimage")
    efficientnet = pytest.importorskip("efficientnet_lite_pytorch")
    import numpy as np

    from local_backend.models.efficientnet import default_weights_path
    from vertex_mm import get_embedder

    bench = import_benchmark("bench_local")
    paths = bench.make_jpegs(tmp_path, 6)  # one of each source photo, square and not
    ref = efficientnet.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(default_weights_path())).eval()
    emb = get_embedder("local", model="efficientnet-lite0", batch_size=32)
    ours = np.asarray(emb.embed_images(paths))
    theirs = bench.reference_pipeline(ref, paths, size=emb.local_model.image_size, crop_pct=emb.local_model.crop_pct)
    assert bench.min_cosine(ours, emb.projection(ours.shape[1]).apply(theirs)) >= 0.98  # squashed frames gave 0.80-0.91
