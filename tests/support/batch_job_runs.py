"""Running a gemini batch job against the emulators in the tests, and reading what it wrote."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from vertex_mm.jobs import read_journal
from vertex_mm.jobs.batch_prediction import run_batch_job

STAGING = "gs://bkt/stage"


def run(gemini: Any, source: Any, out: Path, **kw: Any) -> Any:
    """``run_batch_job`` at 128 dimensions, polling every 20 ms, staged under :data:`STAGING`."""
    kw.setdefault("dimension", 128)
    kw.setdefault("poll_interval", 0.02)
    return run_batch_job(gemini, source, out, staging=STAGING, **kw)


def journal_ids(out: Path) -> list[str]:
    return [r["id"] for r in read_journal(out)] if out.exists() else []


def errors_of(out: Path) -> dict[str, dict[str, Any]]:
    path = out.with_name(out.name + ".errors.jsonl")
    return {e["id"]: e for e in map(json.loads, path.read_text().splitlines())} if path.exists() else {}


def assert_each_input_exactly_once(out: Path, ids: list[str]) -> None:
    """Every input is in the journal once, or in the errors file, never both."""
    done = journal_ids(out)
    assert [k for k, v in collections.Counter(done).items() if v > 1] == []
    assert set(done).isdisjoint(errors_of(out))
    assert sorted(done + list(errors_of(out))) == sorted(ids)
