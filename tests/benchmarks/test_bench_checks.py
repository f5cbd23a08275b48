"""The benchmarks' own checks, on small inputs: each must be able to fail, and a failure must
reach the exit status. (The scripts import their siblings as top-level modules; see
``benchmark_modules``.)"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pytest
from benchmark_modules import import_benchmark


# -- bench_maxsim's checks ------------------------------------------------------------------------
def test_same_answer_compares_scores_bit_for_bit():
    checks = import_benchmark("_maxsim_checks")
    ids = np.array([[3, 1, 2]])
    scores = np.array([[5.0, 4.0, 3.0]], np.float32)
    assert checks.same_answer((scores, ids), (scores.copy(), ids.copy()))
    nudged = scores.copy()
    nudged[0, 2] = np.nextafter(nudged[0, 2], np.float32(0))
    assert not checks.same_answer((scores, ids), (nudged, ids))
    assert not checks.same_answer((scores, ids), (scores, (ids + 1) % 4))


def test_planted_rank_counts_ties_against_the_planted_page():
    checks = import_benchmark("_maxsim_checks")
    scores = np.array([[7, 9, 9, 1], [1, 2, 3, 4]])
    assert checks.planted_ranks(scores, np.array([2, 3])).tolist() == [1, 0]


@pytest.mark.parametrize(("change", "expect"), [
    ({}, None),
    ({"identical": False}, "exact-screened"),
    ({"binary_same": False}, "binary-plain"),
    ({"max_diff": 1e-2}, "reference"),
    ({"kept": 0.9}, "binary keeps"),
    ({"kept": float("nan")}, "binary keeps"),
    ({"hamming_kept": 0.97}, "too easy"),
])
def test_maxsim_checks_fail_on_each_broken_rule(change, expect):
    checks = import_benchmark("_maxsim_checks")
    good = {"identical": True, "binary_same": None, "max_diff": 1e-6, "max_score_diff": 1e-4, "kept": 1.0,
            "hamming_kept": 0.8, "min_kept": 0.95}
    failed = checks.failed_checks(**{**good, **change})
    assert (failed == []) if expect is None else (len(failed) == 1 and expect in failed[0])


def test_the_newest_cached_reference_wheel_is_chosen_by_version(tmp_path):
    ref = import_benchmark("_colpali_reference")
    for v in ("0.3.9", "0.3.18", "0.3.18rc1", "0.3.10"):
        (tmp_path / f"colpali_engine-{v}-py3-none-any.whl").write_bytes(b"")
    newest = ref.newest_wheel(tmp_path)
    assert newest is not None and ref.wheel_version(newest) == "0.3.18"
    assert ref.newest_wheel(tmp_path / "missing") is None


def test_the_reference_fetch_is_pinned(tmp_path):
    ref = import_benchmark("_colpali_reference")
    assert f"colpali-engine=={ref.REFERENCE_VERSION}" in ref.fetch_command(tmp_path)


# -- options --------------------------------------------------------------------------------------
def test_one_letter_knobs_take_both_spellings_and_nothing_is_abbreviated():
    options = import_benchmark("_options")
    p = options.benchmark_parser("doc", n=5, d=7)
    p.add_argument("--no-single-thread", action="store_true")
    assert p.parse_args(["--n", "100000"]).n == 100000  # bench_search's documented command
    assert p.parse_args(["-n", "3"]).n == 3
    with pytest.raises(SystemExit):
        p.parse_args(["--no-single"])  # an abbreviation is refused, not guessed


@pytest.mark.parametrize("spelling", [["--threads", "1"], ["--threads=1"]])
def test_every_spelling_of_threads_limits_the_pools_the_run_reports(spelling):
    pytest.importorskip("threadpoolctl")
    machine = import_benchmark("_machine")
    ns = argparse.ArgumentParser(allow_abbrev=False)
    ns.add_argument("--threads", type=int)
    n = ns.parse_args(spelling).threads
    with machine.limit_threads(n):
        inside = machine.pool_threads()
    assert inside and all(part.endswith(":1") for part in inside.split(",")), inside


def test_bench_search_applies_threads_equals_1(capsys):
    pytest.importorskip("faiss")
    pytest.importorskip("threadpoolctl")
    bench = import_benchmark("bench_search")
    argv = ["--n", "3000", "-d", "32", "--queries", "8", "--rounds", "1", "--max-rounds", "1", "--no-single-thread",
            "--threads=1"]
    assert bench.main(argv) == 0
    result = dict(kv.split("=", 1) for kv in capsys.readouterr().out.strip().splitlines()[-1].split()[1:])
    assert result["threads"] == "1" and float(result["recall_at_10"]) >= 0.99
    assert all(part.endswith(":1") for part in result["pools"].split(",")), result["pools"]


# -- quota ----------------------------------------------------------------------------------------
def test_running_above_the_quota_is_a_problem_and_the_burst_is_allowed():
    quota = import_benchmark("_quota")
    assert quota.quota_problems(1.0, 30.0, 1.02) == []
    assert quota.quota_problems(1.05, 30.0, 1.02) == []  # one second's burst over 30 s: up to 1.053
    assert quota.quota_problems(2.567, 11.7, 1.02)  # the reviewer's client told 10x the quota
    assert quota.quota_binds(320, 600, 10.0) and not quota.quota_binds(320, 600, 60.0)


def test_bench_batch_refuses_a_run_too_short_for_the_quota(capsys):
    pytest.importorskip("vertexai")
    bench = import_benchmark("bench_batch")
    argv = ["--images", "12", "--quota-window", "6", "--latency-ms", "5", "--naive-sample", "0", "--max-rounds", "1",
            "--fault-rate", "0"]
    assert bench.main(argv) == 1
    out = capsys.readouterr().out
    assert "too short for the quota to bind" in out and "quota_binds=0" in out


@pytest.mark.slow
def test_bench_batch_reaches_the_quota_and_reports_its_refusals(capsys):
    pytest.importorskip("vertexai")
    bench = import_benchmark("bench_batch")
    argv = ["--images", "80", "--quota-window", "3", "--latency-ms", "20", "--naive-sample", "0", "--max-rounds", "1"]
    rc = bench.main(argv)
    result = dict(kv.split("=", 1) for kv in capsys.readouterr().out.strip().splitlines()[-1].split()[1:])
    assert result["quota_binds"] == "1" and "ours_quota_429" in result and "ours_injected_faults" in result
    assert rc == 0 and result["ours_lost"] == result["ours_failed"] == result["ours_wrong"] == "0"


# -- bench_gpu ------------------------------------------------------------------------------------
def test_bench_gpu_names_auto_as_torch_does(monkeypatch):
    torch = pytest.importorskip("torch")
    bench = import_benchmark("bench_gpu")
    assert bench.target_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert bench.target_device("auto") is None and bench.target_device("cuda") is None
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the hardware boundary
    assert bench.target_device("auto") == "cuda" and bench.target_device("cuda:1") == "cuda:1"
    torch.device(bench.target_device("auto"))  # what get_device_name receives; "auto" raised here


def test_bench_gpu_without_a_gpu_says_so_and_exits_0(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert import_benchmark("bench_gpu").main(["--device", "auto"]) == 0
    assert "no GPU" in capsys.readouterr().out


def test_import_leaves_sys_path_alone():
    before = list(sys.path)
    import_benchmark("_quota")
    assert sys.path == before
