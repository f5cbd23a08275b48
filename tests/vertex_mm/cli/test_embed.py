"""``vertex-mm embed`` as a real subprocess against the emulator: kill -9 mid-job and resume,
Ctrl-C mid-job and resume, Parquet output, and usage errors."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time

import pytest

from vertex_mm.jobs import iter_source

emulator = pytest.importorskip("vertex_mm.emulator")


def embed_cmd(source, out, url, *extra):
    return [sys.executable, "-m", "vertex_mm", "embed", str(source), "--out", str(out), "--api-endpoint", url,
            "--dimension", "128", "--rpm", "6000", "--concurrency", "2", "--no-progress", *extra]


JOB_INPUTS = 60


@pytest.fixture
def stoppable_job(image_folder, tmp_path):
    """(source folder of JOB_INPUTS photos, output path, emulator): each request takes 0.1 s, so a
    job can be stopped mid-way."""
    with emulator.run_emulator(backend="hashed", latency=0.1) as emu:
        yield image_folder(JOB_INPUTS), tmp_path / "out.jsonl", emu


def start_embed(source, out, url, *, sigint_ignored: bool = False) -> subprocess.Popen:
    """``vertex-mm embed`` in a child process, to be killed or interrupted mid-job (started with
    SIGINT ignored, as a script's background job is)."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen(embed_cmd(source, out, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore)


def complete_lines(path) -> list[dict]:
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def wait_for_lines(path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the job ended before it could be stopped (rc={proc.returncode}): {err[-2000:]}")
        count = len(complete_lines(path))
        if count >= n:
            return count
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"fewer than {n} results after {timeout} s")


def assert_each_input_exactly_once(out, source) -> None:
    ids = [r["id"] for r in complete_lines(out)]
    expected = sorted(item.id for item in iter_source(source))
    duplicates = [k for k, v in collections.Counter(ids).items() if v > 1]
    assert duplicates == [], f"written twice: {duplicates}"
    assert sorted(ids) == expected
    assert out.read_bytes().endswith(b"\n")


@pytest.mark.slow
def test_a_job_killed_with_sigkill_resumes_with_every_input_exactly_once(stoppable_job):
    source, out, emu = stoppable_job
    n = JOB_INPUTS
    done_before = 0
    for _ in range(2):  # killed twice, at different points, before the run that finishes
        proc = start_embed(source, out, emu.url)
        written = wait_for_lines(out, done_before + 8, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        at_kill = len(complete_lines(out))
        assert done_before + 8 <= written <= at_kill < n, "the kill must land mid-job"
        done_before = at_kill

    rerun = subprocess.run(embed_cmd(source, out, emu.url), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done_before} already done" in rerun.stderr
    served = emu.stats()["2xx"]
    assert_each_input_exactly_once(out, source)
    # Only what was in flight at each kill (2 requests at most) was paid for twice.
    assert served <= n + 2 * 2


@pytest.mark.slow
@pytest.mark.parametrize("stop, code, sigint_ignored", [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, False),
                                                        (signal.SIGTERM, 143, True)],
                         ids=["ctrl-c", "sigterm", "sigterm-with-sigint-ignored"])
def test_ctrl_c_or_sigterm_stops_the_job_cleanly_and_the_rerun_finishes_it(stoppable_job, stop, code, sigint_ignored):
    """SIGTERM (docker stop, kubectl, timeout) killed the process outright: answers in flight,
    already paid for, were lost, and no summary was printed. It now stops as Ctrl-C does, also
    in a process started with SIGINT ignored (where it went on losing them)."""
    source, out, emu = stoppable_job
    n = JOB_INPUTS
    proc = start_embed(source, out, emu.url, sigint_ignored=sigint_ignored)
    wait_for_lines(out, 5, proc)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted" in err and "run the same command again" in err
    kept = complete_lines(out)
    assert 5 <= len(kept) < n
    served_before = emu.stats()["2xx"]
    assert len(kept) == served_before  # everything the service answered was written
    rerun = subprocess.run(embed_cmd(source, out, emu.url), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert emu.stats()["2xx"] == n  # nothing embedded twice
    assert_each_input_exactly_once(out, source)


@pytest.mark.slow
def test_parquet_output_from_the_command_line(image_folder, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    source = image_folder(6)
    out = tmp_path / "emb.parquet"
    with emulator.run_emulator(backend="hashed") as emu:
        done = subprocess.run(embed_cmd(source, out, emu.url, "--format", "parquet"), capture_output=True,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(out).to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(i.id for i in iter_source(source))
    assert {len(r["embedding"]) for r in rows} == {128}
    assert rows[0]["space"] == "vertex/multimodalembedding@001/128"


def test_usage_errors_exit_2_with_a_message(tmp_path, capsys):
    from vertex_mm.cli import main

    assert main(["embed", str(tmp_path / "missing"), "--out", str(tmp_path / "o.jsonl"),
                 "--api-endpoint", "http://127.0.0.1:9"]) == 2
    assert "no such folder or list file" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--api-endpoint", "http://127.0.0.1:9",
                 "--dimension", "7"]) == 2
    assert "dimension" in capsys.readouterr().err.lower()


def test_a_source_with_no_inputs_exits_2_as_index_does(tmp_path, capsys):
    """A mistyped folder, or one of formats the backend skips, exited 0 as '0 inputs: 0 embedded'."""
    from vertex_mm.cli import main

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "scan.tiff").write_bytes(b"II*\x00")
    rc = main(["embed", str(tmp_path / "photos"), "--out", str(tmp_path / "o.jsonl"), "--backend", "hashed",
               "--dimension", "128", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no inputs under" in err and "images of bmp, gif, jpeg" in err, err


def test_the_command_runs_in_process_with_failures_reported(image_folder, tmp_path, capsys):
    from vertex_mm.cli import main

    source = image_folder(3)
    (source / "a" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with emulator.run_emulator(backend="hashed") as emu:
        rc = main(["embed", str(source), "--out", str(tmp_path / "o.jsonl"), "--api-endpoint", emu.url,
                   "--dimension", "128", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "3 embedded" in err and "1 failed" in err and "bad.jpg" in err
