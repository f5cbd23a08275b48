"""Kill tests (issue 11 item 5): SIGKILL before every file-system step of an index save, an
in-place multi-vector append, a compaction and a journal's Parquet export. After each kill a
reader finds the old complete state or the new one, never neither, and the next writer works
over whatever the kill left and leaves no temporary files. The steps run in a subprocess
(tests/vertex_mm/crash_worker.py) that forks one child per step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vertex_mm

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(vertex_mm.__file__).resolve().parents[1]


def _run(scenario: str, tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(WORKER), scenario, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(result: dict, *, min_steps: int) -> None:
    assert result["failures"] == []
    assert result["final"] == "new"
    assert result["steps"] >= min_steps  # every step was a kill point
    assert result["outcomes"]["old"] >= 1 and sum(result["outcomes"].values()) == result["steps"]


def test_a_flat_index_save_killed_at_any_step_leaves_the_old_or_the_new_index(tmp_path):
    result = _run("flat-save", tmp_path)
    _check(result, min_steps=10)
    assert result["outcomes"]["new"] >= 1  # killed after the swap, before the clean-up


@pytest.mark.slow
def test_a_two_rename_save_killed_at_any_step_is_found_by_load(tmp_path):
    result = _run("flat-save-two-renames", tmp_path)
    _check(result, min_steps=10)
    assert result["outcomes"]["new"] >= 1


@pytest.mark.slow
def test_a_multivector_append_killed_at_any_step_leaves_the_old_or_the_new_index(tmp_path):
    _check(_run("multivector-append", tmp_path), min_steps=8)


@pytest.mark.slow
def test_a_compaction_killed_at_any_step_keeps_the_same_live_pages(tmp_path):
    result = _run("multivector-compact", tmp_path)
    _check(result, min_steps=10)
    assert result["outcomes"]["new"] >= 1  # killed after the manifest switch, before the clean-up


@pytest.mark.slow
def test_a_parquet_export_killed_at_any_step_leaves_the_old_or_the_new_file(tmp_path):
    pytest.importorskip("pyarrow.parquet")
    _check(_run("journal-export", tmp_path), min_steps=2)
