"""Jobs that end badly: a FAILED or EXPIRED job keeps the rows it finished (they were billed),
and only the rest is submitted again; output rows are read in Google's documented status form."""

from __future__ import annotations

import collections

import pytest
from batch_job_runs import errors_of, journal_ids, run

from vertex_mm.jobs import iter_source
from vertex_mm.jobs.batch_errors import BatchJobFailedError
from vertex_mm.jobs.contents import CONTENT_EXTENSIONS


def end_job_as(store, bucket, state: str, *, keep_lines: int, forget_output: bool):
    """A poll hook: once the emulator's job has run, keep only ``keep_lines`` of its output (a job
    the service stopped part way) and mark it ``state``, as the service does for a job that
    failed or ran out of time; ``forget_output`` leaves ``outputInfo`` unset as well."""

    def hook(_seconds: float) -> None:
        job = store.jobs()[-1]
        while not job.done:
            job.cancel_requested.wait(0.01)
        if job.state != "JOB_STATE_SUCCEEDED":
            return
        name = job.output_directory.removeprefix("gs://bkt/") + "/predictions.jsonl"
        lines = bucket.blob(name).download_as_bytes().splitlines(keepends=True)
        bucket.blob(name).upload_from_string(b"".join(lines[:keep_lines]))
        job.update(state=state, error="the job ran out of time",
                   output_directory=None if forget_output else job.output_directory)

    return hook


@pytest.mark.parametrize("state, forget_output", [("JOB_STATE_EXPIRED", False), ("JOB_STATE_FAILED", True)])
def test_a_failed_or_expired_job_keeps_its_finished_rows_and_only_the_rest_is_resubmitted(
        gemini, gcs_emulator, bucket, media_folder, tmp_path, state, forget_output):
    root = media_folder(images=4)  # 8 contents
    ids = [i.id for i in iter_source(root, extensions=CONTENT_EXTENSIONS)]
    out = tmp_path / "out.jsonl"
    store = gcs_emulator.app.state.batch_jobs
    hook = end_job_as(store, bucket, state, keep_lines=3, forget_output=forget_output)
    with pytest.raises(BatchJobFailedError, match=f"{state}.*3 of its 8 inputs were collected, 5 never ran"):
        run(gemini, root, out, sleep=hook)
    assert len(journal_ids(out)) == 3  # billed rows are kept, not thrown away
    assert {e["error"] for e in errors_of(out).values()} == {"NotRunError"}
    assert all(e["retryable"] and state in e["message"] for e in errors_of(out).values())
    assert not out.with_name("out.jsonl.job.json").exists()
    second = run(gemini, root, out)
    assert second.complete and second.submitted == 5  # only the rows that never ran are paid again
    assert store.created == 2
    done = journal_ids(out)
    assert [k for k, v in collections.Counter(done).items() if v > 1] == [] and sorted(done) == sorted(ids)
    assert errors_of(out) == {}


_KILLED_CLIENT = """
import os, pathlib, sys
from vertex_mm import get_embedder
from vertex_mm.jobs import read_journal
from vertex_mm.jobs.batch_prediction import run_batch_job
url, root, out = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
def sleep(_s):
    if out.exists() and len(list(read_journal(out))) >= 3 and pathlib.Path(str(out) + ".job.json").exists():
        os._exit(9)  # as kill -9 while the second job runs: no finally, no cleanup
    import time; time.sleep(0.01)
run_batch_job(get_embedder("gemini", base_url=url), root, out, staging="gs://bkt/stage", dimension=128,
              poll_interval=0.01, max_rows=3, sleep=sleep)
"""


def test_a_client_killed_during_its_second_job_loses_no_failure_of_the_first(gcs_emulator, gemini, tmp_path):
    import subprocess
    import sys

    from factories import image_bytes

    root = tmp_path / "media"
    root.mkdir()
    for i in range(5):
        (root / f"img_{i}.jpg").write_bytes(image_bytes("JPEG", color=(i * 40, 90, 30)))
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.7 not a pdf")  # a failure of the first job (refused locally)
    out = tmp_path / "out.jsonl"
    gcs_emulator.set_faults(batch_line_latency=0.05)
    child = subprocess.run([sys.executable, "-c", _KILLED_CLIENT, gcs_emulator.url, str(root), str(out)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 9, child.stderr[-2000:]
    assert list(errors_of(out)) == ["corrupt.pdf"]  # written once the first job was collected
    gcs_emulator.set_faults(batch_line_latency=0.0)
    rerun = run(gemini, root, out, max_rows=3)
    assert rerun.reattached and not rerun.complete and rerun.failed == 1
    assert list(errors_of(out)) == ["corrupt.pdf"]
    assert sorted(journal_ids(out)) == [f"img_{i}.jpg" for i in range(5)]
    assert gcs_emulator.app.state.batch_jobs.created == 2  # nothing was sent twice


def _unavailable_for(gemini, calls: int | None, monkeypatch):
    """``client.batches.get`` (the API boundary) answers 503 for its next ``calls`` calls (all of
    them when None), then the emulator's answer."""
    from google.genai import errors as genai_errors

    real = gemini._client.batches.get
    left = [calls]

    def get(*args, **kwargs):
        if left[0] is None or left[0] > 0:
            left[0] = None if left[0] is None else left[0] - 1
            raise genai_errors.ServerError(503, {"error": {"code": 503, "message": "backend unavailable",
                                                           "status": "UNAVAILABLE"}})
        return real(*args, **kwargs)

    monkeypatch.setattr(gemini._client.batches, "get", get)


def test_an_api_outage_while_polling_is_waited_out(gemini, gcs_emulator, media_folder, tmp_path, monkeypatch):
    _unavailable_for(gemini, 12, monkeypatch)  # more than one get() gives up after (5 tries, ~15 s)
    slept: list[float] = []
    report = run(gemini, media_folder(), tmp_path / "out.jsonl", sleep=slept.append)
    assert report.complete and report.embedded == 6 and sum(slept) > 15


def test_a_long_outage_while_polling_ends_the_client_and_keeps_the_state_file(gemini, gcs_emulator, media_folder,
                                                                              tmp_path, monkeypatch):
    from vertex_mm.errors import ServiceUnavailableError
    from vertex_mm.jobs.batch_client import OUTAGE_PATIENCE

    _unavailable_for(gemini, None, monkeypatch)
    slept: list[float] = []
    out = tmp_path / "out.jsonl"
    with pytest.raises(ServiceUnavailableError):
        run(gemini, media_folder(), out, sleep=slept.append)
    assert OUTAGE_PATIENCE <= sum(slept) < 1.5 * OUTAGE_PATIENCE and max(slept) <= 300
    assert out.with_name("out.jsonl.job.json").exists()  # the same command re-attaches
