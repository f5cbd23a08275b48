"""examples/beam_embed_pipeline.py runs offline with one command and loses nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
pytest.importorskip("apache_beam", reason=BEAM_SKIP)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "beam_embed_pipeline.py"
RESULT = re.compile(r"^RESULT embedded=(\d+) dead_letter=(\d+) lost=(\d+) duplicates=(\d+) inputs=(\d+)$", re.M)


def _run(tmp_path: Path, *args: str) -> tuple[dict[str, int], str]:
    done = subprocess.run([sys.executable, str(EXAMPLE), "--output", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    match = RESULT.search(done.stdout)
    assert match, done.stdout
    keys = ("embedded", "dead_letter", "lost", "duplicates", "inputs")
    return dict(zip(keys, map(int, match.groups()))), done.stdout


@pytest.mark.slow
def test_default_run_embeds_the_sample_photos_locally_and_dead_letters_the_broken_ones(tmp_path):
    from vertex_mm.sample_data import sample_photos

    result, _ = _run(tmp_path)
    n = len(sample_photos())
    assert result == {"embedded": n, "dead_letter": 2, "lost": 0, "duplicates": 0, "inputs": n + 2}
    rows = [json.loads(line) for f in (tmp_path / "out").glob("embeddings-*.jsonl") for line in f.open()]
    assert {len(r["embedding"]) for r in rows} == {512}
    assert {r["embedding_space"].split("/")[0] for r in rows} == {"local"}
    dead = [json.loads(line) for f in (tmp_path / "out").glob("dead_letter-*.jsonl") for line in f.open()]
    assert sorted(r["id"] for r in dead) == ["broken/notes.txt", "broken/truncated.jpg"]


@pytest.mark.slow
def test_vertex_backend_against_the_emulator_with_faults(tmp_path):
    result, out = _run(tmp_path, "--backend", "vertex", "--emulator", "--fault-rate", "0.1", "--format", "parquet",
                       "--no-broken")
    assert "emulator on http://127.0.0.1:" in out
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["embedded"] == result["inputs"] and result["dead_letter"] == 0
