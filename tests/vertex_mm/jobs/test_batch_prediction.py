"""``run_batch_job`` end to end: our client, google-genai and google-cloud-storage against the
emulator and the storage emulator. Every input ends up exactly once in the journal or the
errors; a stopped client re-attaches to its job instead of submitting again."""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np
import pytest
from batch_job_runs import STAGING, assert_each_input_exactly_once, errors_of, journal_ids, run
from factories import image_bytes, pdf_bytes

from vertex_mm import Document
from vertex_mm.emulator import EmulatorServer, EmulatorSettings
from vertex_mm.errors import InputError, UnsupportedInputError
from vertex_mm.jobs import iter_source, read_journal
from vertex_mm.jobs.batch_errors import BatchJobFailedError, BatchJobRefusedError, BatchJobStateError
from vertex_mm.jobs.batch_prediction import run_batch_job
from vertex_mm.jobs.batch_state import JobState
from vertex_mm.jobs.contents import CONTENT_EXTENSIONS
from vertex_mm.jobs.sources import LeftOut
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.testing import HashedEmbedder


def stop_at_first_poll(_seconds: float) -> None:
    raise KeyboardInterrupt


def test_every_content_is_embedded_once_and_bad_inputs_are_per_item_errors(gemini, gcs_emulator, bucket,
                                                                           media_folder, tmp_path):
    root = media_folder(bad=True)
    bucket.blob("remote/photo.png").upload_from_string(image_bytes("PNG"))
    bucket.blob("remote/long.pdf").upload_from_string(pdf_bytes(7))
    listing = tmp_path / "list.txt"
    local = sorted(item.id for item in iter_source(root, extensions=CONTENT_EXTENSIONS))
    listing.write_text("\n".join([*(f"media/{p}" for p in local), "media/readme.txt",
                                  "gs://bkt/remote/photo.png", "gs://bkt/remote/long.pdf"]) + "\n")
    out = tmp_path / "out.jsonl"
    estimates = []
    report = run(gemini, listing, out, task="retrieval_document", on_estimate=estimates.append)
    ids = [item.id for item in iter_source(listing)]
    assert_each_input_exactly_once(out, ids)
    errors = errors_of(out)
    assert errors["media/corrupt.pdf"]["error"] == "InvalidDocumentError"
    assert errors["media/seven.pdf"]["error"] == "InvalidDocumentError" and "7 pages" in errors["media/seven.pdf"]["message"]
    assert errors["media/readme.txt"]["error"] == "InputError"  # not media: refused before staging
    assert errors["gs://bkt/remote/long.pdf"]["error"] == "InvalidArgumentError"  # refused by the job's row
    assert (report.embedded, report.failed, report.submitted) == (7, 4, 8)
    assert gcs_emulator.app.state.batch_jobs.created == 1
    assert not report.state_file.exists()
    records = {r["id"]: r for r in read_journal(out)}
    assert {r["space"] for r in records.values()} == {"gemini/gemini-embedding-2/128;task=retrieval_document"}
    expected = HashedEmbedder(limits=GEMINI_EMBEDDING_2).embed_content(Document((root / "doc.pdf").read_bytes()), dimension=128)
    np.testing.assert_allclose(records["media/doc.pdf"]["embedding"], expected, rtol=1e-5, atol=1e-6)
    assert records["media/doc.pdf"]["content_hash"].startswith("sha256:")
    assert estimates and estimates[0].contents == 8 and set(estimates[0].usage) == {"image", "document", "audio", "video"}


def test_a_rerun_sends_nothing_that_is_done(gemini, gcs_emulator, media_folder, tmp_path):
    root = media_folder(bad=True)
    out = tmp_path / "out.jsonl"
    run(gemini, root, out)
    report = run(gemini, root, out)
    assert (report.submitted, report.skipped, report.failed) == (0, 6, 2)  # the bad two are checked again
    assert gcs_emulator.app.state.batch_jobs.created == 1
    assert_each_input_exactly_once(out, [i.id for i in iter_source(root, extensions=CONTENT_EXTENSIONS)])


def test_a_stopped_client_re_attaches_to_its_running_job(gemini, gcs_emulator, media_folder, tmp_path):
    gcs_emulator.set_faults(batch_line_latency=0.05)
    root = media_folder(images=10)
    out = tmp_path / "out.jsonl"
    first = run(gemini, root, out, sleep=stop_at_first_poll)
    assert first.interrupted and "keeps running" in first.summary()
    state = JobState.load(first.state_file)
    assert state is not None and state.job_name is not None and len(state.items) == 14
    second = run(gemini, root, out)
    assert second.reattached and second.complete and second.jobs == [state.job_name.rsplit("/", 1)[-1]]
    assert gcs_emulator.app.state.batch_jobs.created == 1
    assert_each_input_exactly_once(out, list(state.items))


def test_a_client_killed_between_create_and_saving_the_name_finds_the_job_by_display_name(
        gemini, gcs_emulator, media_folder, tmp_path):
    gcs_emulator.set_faults(batch_line_latency=0.02)
    root = media_folder()
    out = tmp_path / "out.jsonl"
    first = run(gemini, root, out, sleep=stop_at_first_poll)
    state = JobState.load(first.state_file)
    state.job_name = None  # as if the process died right after the create call answered
    state.save(first.state_file)
    second = run(gemini, root, out)
    assert second.reattached and second.complete
    assert gcs_emulator.app.state.batch_jobs.created == 1


def test_large_inputs_are_split_into_jobs_of_one_file_within_the_byte_bound(gemini, gcs_emulator, bucket,
                                                                             media_folder, tmp_path):
    root = media_folder(images=5)
    (root / "notes.txt").write_text("not an input")
    (root / "scan.tif").write_bytes(b"II*\x00")
    once = LeftOut()
    list(iter_source(root, extensions=CONTENT_EXTENSIONS, passed_over=once))
    out = tmp_path / "out.jsonl"
    report = run(gemini, root, out, max_file_bytes=3000, max_rows=4)
    # Listed again for each job, and the files of other formats counted once, as a run online counts them.
    assert report.left_out.count == once.count >= 2 and "notes.txt" in report.summary()
    jobs = gcs_emulator.app.state.batch_jobs.jobs()
    assert len(jobs) >= 3 and all(len(j.spec.input_uris) == 1 for j in jobs)  # one JSONL file per job
    sizes = [bucket.get_blob(j.spec.input_uris[0].removeprefix("gs://bkt/")).size for j in jobs]
    # within the bound, unless one line alone is over it (it cannot be split)
    assert all(j.total <= 4 and (size <= 3000 or j.total == 1) for j, size in zip(jobs, sizes)), sizes
    assert report.complete and len(report.jobs) == len(jobs)
    assert_each_input_exactly_once(out, [i.id for i in iter_source(root, extensions=CONTENT_EXTENSIONS)])


def test_a_cancelled_job_keeps_what_it_did_and_the_rest_is_retried(gemini, gcs_emulator, media_folder, tmp_path):
    gcs_emulator.set_faults(batch_line_latency=0.1)
    root = media_folder(images=20)
    out = tmp_path / "out.jsonl"
    store = gcs_emulator.app.state.batch_jobs

    def cancel_once_running(_seconds: float) -> None:
        job = store.jobs()[-1]
        while job.successful < 2:
            job.cancel_requested.wait(0.01)
        if job.state == "JOB_STATE_RUNNING":
            store.cancel(job.parent, job.id)

    first = run(gemini, root, out, sleep=cancel_once_running)
    assert 2 <= first.embedded < 24
    assert {e["error"] for e in errors_of(out).values()} == {"NotRunError"}
    assert all(e["retryable"] and "cancelled" in e["message"] for e in errors_of(out).values())
    gcs_emulator.set_faults(batch_line_latency=0.0)
    second = run(gemini, root, out)
    assert second.complete and second.submitted == 24 - first.embedded
    assert_each_input_exactly_once(out, [i.id for i in iter_source(root, extensions=CONTENT_EXTENSIONS)])


def test_a_job_cancelled_before_any_row_ran_is_submitted_again_not_re_attached(gemini, gcs_emulator, media_folder,
                                                                               tmp_path):
    # The rerun stages the same input: the same digest. Named after the digest alone, the new
    # job was "found" as the old, cancelled one, and every rerun failed the same inputs again.
    gcs_emulator.set_faults(batch_start_delay=5.0)
    root = media_folder(images=3)
    out = tmp_path / "out.jsonl"
    store = gcs_emulator.app.state.batch_jobs

    def cancel_while_queued(_seconds: float) -> None:
        job = store.jobs()[-1]
        store.cancel(job.parent, job.id)

    first = run(gemini, root, out, sleep=cancel_while_queued)
    assert first.embedded == 0 and len(errors_of(out)) == first.submitted
    gcs_emulator.set_faults(batch_start_delay=0.0)
    second = run(gemini, root, out)
    assert second.complete and not second.reattached and store.created == 2
    assert_each_input_exactly_once(out, [i.id for i in iter_source(root, extensions=CONTENT_EXTENSIONS)])


def test_a_file_name_that_is_not_utf8_is_sent_escaped_and_written_under_its_own_id(gemini, gcs_emulator,
                                                                                  media_folder, tmp_path):
    # Staging its line raised UnicodeEncodeError out of the run: no job, nothing embedded.
    root = media_folder(images=1)
    odd = pathlib.Path(os.fsdecode(os.fsencode(root / "pics") + b"/caf\xe9.jpg"))
    odd.write_bytes((root / "pics" / "img_000.jpg").read_bytes())
    out = tmp_path / "out.jsonl"
    first = run(gemini, root, out)
    assert first.complete and first.failed == 0 and "pics/caf\udce9.jpg" in journal_ids(out)
    again = run(gemini, root, out)
    assert again.embedded == 0 and again.skipped == first.embedded  # resumed under the same id


def test_a_refused_create_is_a_typed_error_that_suggests_the_online_path(gemini, gcs_emulator, media_folder, tmp_path):
    gcs_emulator.set_faults(batch_unsupported=True)
    out = tmp_path / "out.jsonl"
    with pytest.raises(BatchJobRefusedError, match="not supported") as info:
        run(gemini, media_folder(), out)
    assert "--mode online" in str(info.value) and "model card" in str(info.value)
    assert not out.with_name("out.jsonl.job.json").exists()


def test_a_failed_job_is_a_typed_error_and_the_next_run_submits_again(gcs, media_folder, tmp_path):
    from vertex_mm import get_embedder

    settings = EmulatorSettings(backend="hashed", max_gcs_object_bytes=100)  # the job cannot read its input
    with EmulatorServer(settings, storage_client=gcs.client()) as emu:
        gemini = get_embedder("gemini", base_url=emu.url)
        out = tmp_path / "out.jsonl"
        with pytest.raises(BatchJobFailedError, match="JOB_STATE_FAILED.*at most 100 bytes"):
            run(gemini, media_folder(), out)
        assert not out.with_name("out.jsonl.job.json").exists()
        emu.app.state.gcs_media.max_bytes = 10**8
        assert run(gemini, media_folder(), out).complete
        assert emu.app.state.batch_jobs.created == 2
        gemini.close()


def test_a_state_file_of_other_flags_is_refused(gemini, gcs_emulator, media_folder, tmp_path):
    gcs_emulator.set_faults(batch_line_latency=0.05)
    out = tmp_path / "out.jsonl"
    run(gemini, media_folder(), out, sleep=stop_at_first_poll)
    with pytest.raises(BatchJobStateError, match="dimension|space"):
        run(gemini, media_folder(), out, dimension=256)


def test_only_the_gemini_backend_and_gs_staging_are_accepted(gemini, tmp_path):
    with pytest.raises(UnsupportedInputError, match="gemini"):
        run_batch_job(HashedEmbedder(), tmp_path, tmp_path / "o.jsonl", staging=STAGING)
    with pytest.raises(InputError, match="gs://"):
        run_batch_job(gemini, tmp_path, tmp_path / "o.jsonl", staging="/tmp/stage")



def test_counts_of_a_run_of_several_jobs_are_each_inputs_once(gemini, gcs_emulator, media_folder, tmp_path):
    """Each job's input is prepared by listing the source again: the report still counts each
    listed input once (seen, already done, duplicate ids), and its estimate is the sum of what
    the run submitted (None when it submitted nothing)."""
    root = media_folder(images=5)  # 9 contents
    lines = [f"media/{i.id}" for i in iter_source(root, extensions=CONTENT_EXTENSIONS)]
    listing, out = tmp_path / "list.txt", tmp_path / "out.jsonl"
    listing.write_text("\n".join(lines[:4]) + "\n")
    run(gemini, listing, out)
    listing.write_text("\n".join(lines + lines[:3]) + "\n")  # all nine, three of them twice
    report = run(gemini, listing, out, max_rows=2)
    assert len(report.jobs) == 3 and report.complete  # 5 inputs left: jobs of 2, 2 and 1
    assert (report.seen, report.duplicates, report.skipped, report.submitted, report.embedded) == (12, 3, 4, 5, 5)
    assert report.estimate is not None and report.estimate.contents == 5
    assert "3 duplicate ids ignored" in report.summary()
    assert_each_input_exactly_once(out, lines)
    rerun = run(gemini, listing, out, max_rows=2)
    assert (rerun.seen, rerun.duplicates, rerun.skipped, rerun.submitted, rerun.estimate) == (12, 3, 9, 0, None)

def test_a_journal_repaired_on_open_is_reported(gemini, gcs_emulator, media_folder, tmp_path):
    root = media_folder()
    out = tmp_path / "out.jsonl"
    run(gemini, root, out)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join([lines[0], b"not a record\n", *lines[1:-1], lines[-1][:20]]))  # a bad line, a torn tail
    report = run(gemini, root, out)
    assert (report.bad_lines, report.first_bad_lines, report.torn_bytes) == (1, [2], 20)
    assert report.submitted == 1 and report.complete  # the torn record's input is sent again
    text = report.summary()
    assert "cut 20 bytes of a torn last line" in text and "ignored 1 journal lines" in text


def test_a_paused_job_stops_the_wait_keeps_the_state_file_and_the_rerun_re_attaches(
        gemini, gcs_emulator, media_folder, tmp_path):
    from vertex_mm.jobs import BatchJobPausedError

    gcs_emulator.set_faults(batch_line_latency=0.1)  # the job runs ~2 s: paused and resumed well before it ends
    root = media_folder(images=20)
    out = tmp_path / "out.jsonl"
    store = gcs_emulator.app.state.batch_jobs

    def pause_at_first_poll(_seconds: float) -> None:
        job = store.jobs()[-1]
        deadline = time.monotonic() + 30
        while job.successful < 1:  # running, one input done
            assert time.monotonic() < deadline, job.state
            job.cancel_requested.wait(0.01)
        assert job.transition(frozenset({"JOB_STATE_RUNNING"}), state="JOB_STATE_PAUSED")

    with pytest.raises(BatchJobPausedError, match="JOB_STATE_PAUSED.*run the same command again"):
        run(gemini, root, out, sleep=pause_at_first_poll)
    assert out.with_name("out.jsonl.job.json").exists()
    assert store.jobs()[-1].transition(frozenset({"JOB_STATE_PAUSED"}), state="JOB_STATE_RUNNING")  # resumed
    again = run(gemini, root, out)
    assert again.complete and again.reattached and store.created == 1
    assert_each_input_exactly_once(out, [i.id for i in iter_source(root, extensions=CONTENT_EXTENSIONS)])


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf")])
def test_a_poll_interval_that_is_not_positive_is_refused_before_anything_is_staged(gemini, gcs_emulator, bucket,
                                                                                  media_folder, tmp_path, interval):
    """-1 failed in sleep() after the job was created; 0 polled the job API in a tight loop."""
    with pytest.raises(InputError, match="poll_interval=.* must be a finite number of seconds > 0"):
        run(gemini, media_folder(), tmp_path / "out.jsonl", poll_interval=interval)
    assert list(bucket.list_blobs()) == []
