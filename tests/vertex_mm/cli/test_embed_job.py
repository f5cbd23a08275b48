"""``vertex-mm embed --mode job|auto``: a batch prediction job from the command line against the
emulator and the storage emulator, killed mid-job and re-attached; the cost estimate; the auto
rule; usage errors; and the online path embedding contents for gemini."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time

import pytest
from factories import pdf_bytes, wav_bytes

from vertex_mm.cli import main
from vertex_mm.jobs import iter_source
from vertex_mm.jobs.contents import CONTENT_EXTENSIONS

emulator = pytest.importorskip("vertex_mm.emulator")

STAGING = "gs://bkt/stage"


def job_args(source, out, url, *extra) -> list[str]:
    return ["embed", str(source), "--out", str(out), "--backend", "gemini", "--api-endpoint", url, "--dimension", "128",
            "--mode", "job", "--staging", STAGING, "--poll-interval", "0.05", "--no-progress", *extra]


def ids_in(out) -> list[str]:
    return [json.loads(line)["id"] for line in out.read_text().splitlines()] if out.exists() else []


def assert_each_input_exactly_once(out, source) -> None:
    ids = ids_in(out)
    assert [k for k, v in collections.Counter(ids).items() if v > 1] == []
    assert sorted(ids) == sorted(i.id for i in iter_source(source, extensions=CONTENT_EXTENSIONS))


def wait_until(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the command ended before it could be killed (rc={proc.returncode}): {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"not reached within {timeout} s")
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_batch_job_client_re_attaches_to_the_running_job(gcs, image_folder, tmp_path):
    source = image_folder(16)
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "vertex_mm", *job_args(source, out, "URL")]
    with emulator.run_emulator(backend="hashed", storage_client=gcs.client(), batch_line_latency=0.5) as emu:
        cmd[cmd.index("URL")] = emu.url
        store = emu.app.state.batch_jobs
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: bool(store.jobs()) and store.jobs()[0].successful >= 2, proc)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert "cost estimate for 16 contents" in err and "batch $" in err  # printed before submitting
        assert store.jobs()[0].state == "JOB_STATE_RUNNING", "the kill must land while the job runs"
        state = json.loads(out.with_name("out.jsonl.job.json").read_text())
        assert state["job_name"] == store.jobs()[0].name

        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert "re-attached" in rerun.stderr and "cost estimate" not in rerun.stderr
        assert store.created == 1  # one create in all
    assert_each_input_exactly_once(out, source)
    assert not out.with_name("out.jsonl.job.json").exists()


def test_job_mode_prints_the_estimate_and_collects_every_content(gcs, image_folder, tmp_path, capsys):
    source = image_folder(3)
    (source / "doc.pdf").write_bytes(pdf_bytes(2))
    (source / "talk.wav").write_bytes(wav_bytes(1.0))
    out = tmp_path / "out.jsonl"
    with emulator.run_emulator(backend="hashed", storage_client=gcs.client()) as emu:
        rc = main(job_args(source, out, emu.url, "--task", "retrieval_document"))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "cost estimate for 5 contents" in err and "document" in err and "third-party" in err
    assert "5 embedded" in err
    assert_each_input_exactly_once(out, source)
    assert {json.loads(line)["space"] for line in out.read_text().splitlines()} == {
        "gemini/gemini-embedding-2/128;task=retrieval_document"}


def test_a_refused_job_exits_2_and_suggests_the_online_mode(gcs, image_folder, tmp_path, capsys):
    with emulator.run_emulator(backend="hashed", storage_client=gcs.client()) as emu:
        emu.set_faults(batch_unsupported=True)
        rc = main(job_args(image_folder(2), tmp_path / "o.jsonl", emu.url))
    err = capsys.readouterr().err
    assert rc == 2 and "not supported" in err and "--mode online" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--backend", "gemini", "--mode", "job"], "needs --staging"),
    (["--backend", "vertex", "--mode", "job", "--staging", STAGING], "needs --backend gemini"),
    (["--backend", "gemini", "--mode", "job", "--staging", "/tmp/x"], "gs://bucket/prefix"),
    (["--backend", "vertex", "--task", "retrieval_query"], "--media all"),
    (["--backend", "vertex", "--media", "all"], "multimodalembedding@001 embeds no contents"),
])
def test_flags_that_do_not_go_together_exit_2(flags, message, tmp_path, capsys):
    rc = main(["embed", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--api-endpoint", "http://127.0.0.1:9",
               *flags])
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(("rpm", "staging", "chosen"), [
    ("0.01", STAGING, "job"),     # 4 inputs at 0.01/min: hours online
    ("600", STAGING, "online"),   # seconds online
    ("0.01", None, "online"),     # a job needs --staging
])
def test_auto_mode_picks_the_job_only_when_online_would_take_over_an_hour(rpm, staging, chosen, image_folder, tmp_path,
                                                                         capsys):
    source = image_folder(4)
    args = ["embed", str(source), "--out", str(tmp_path / "o.jsonl"), "--backend", "gemini", "--api-endpoint",
            "http://127.0.0.1:9", "--mode", "auto", "--rpm", rpm, "--dry-run", "--dimension", "768"]
    rc = main(args + (["--staging", staging] if staging else []))
    err = capsys.readouterr().err
    assert rc == 0 and f"--mode auto chose {chosen}" in err
    assert "cost estimate for 4 contents" in err and "nothing was sent" in err


def test_auto_mode_counts_what_is_left_not_what_is_done(image_folder, tmp_path, capsys):
    # 4 inputs at 0.05/min are 80 min online (a job); with 3 in the output, 1 is 20 min (online).
    from vertex_mm.jobs import Journal, iter_source

    source = image_folder(4)
    out = tmp_path / "o.jsonl"
    args = ["embed", str(source), "--out", str(out), "--backend", "gemini", "--api-endpoint", "http://127.0.0.1:9",
            "--mode", "auto", "--rpm", "0.05", "--dry-run", "--dimension", "768", "--staging", STAGING]
    assert main(args) == 0 and "--mode auto chose job" in capsys.readouterr().err
    with Journal(out) as journal:
        for item in list(iter_source(source))[:3]:
            journal.write({"id": item.id, "content_hash": "sha256:x", "embedding": [1.0, 0.0]})
    assert main(args) == 0 and "--mode auto chose online" in capsys.readouterr().err


def test_online_mode_embeds_pdf_and_audio_contents_for_gemini(image_folder, tmp_path, capsys):
    source = image_folder(2)
    (source / "doc.pdf").write_bytes(pdf_bytes(1))
    (source / "talk.wav").write_bytes(wav_bytes(1.0))
    (source / "seven.pdf").write_bytes(pdf_bytes(7))
    out = tmp_path / "o.jsonl"
    with emulator.run_emulator(backend="hashed") as emu:
        rc = main(["embed", str(source), "--out", str(out), "--backend", "gemini", "--api-endpoint", emu.url,
                   "--dimension", "256", "--task", "retrieval_document", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "4 embedded" in err and "seven.pdf" in err
    assert sorted(ids_in(out)) == ["a/img_0000.jpg", "b/img_0001.jpg", "doc.pdf", "talk.wav"]


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_poll_interval_that_is_not_positive_is_a_usage_error(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["embed", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--poll-interval", value])
    assert exit_.value.code == 2 and "argument --poll-interval:" in capsys.readouterr().err
