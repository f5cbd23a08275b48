"""Cloud Storage errors while staging a job's input or collecting its output are typed
:mod:`vertex_mm.errors` errors naming the URI (the CLI exits 2 with one line), and a transient
one during an upload is tried again."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions as gexc
from google.cloud import storage

from vertex_mm.cli import main
from vertex_mm.errors import PermissionDeniedError, ServiceUnavailableError
from vertex_mm.gcs import ObjectNotFoundError
from vertex_mm.jobs.batch_collect import ErrorSet, collect_outputs
from vertex_mm.jobs.batch_state import JobState
from vertex_mm.jobs.staging import StagedInput
from vertex_mm.jobs.writer import Journal, read_journal


def staged(folder) -> StagedInput:
    folder.mkdir()
    s = StagedInput(folder, model="gemini-embedding-2", task=None)
    s.add({"key": "a", "request": {"content": {"parts": [{"text": "a"}]}}})
    return s


def test_staging_to_a_missing_bucket_names_the_bucket(gcs, tmp_path):
    with pytest.raises(ObjectNotFoundError, match="gs://no-such-bucket: the staging bucket does not exist"):
        staged(tmp_path / "in").upload(gcs.client(), "gs://no-such-bucket/stage", sleep=pytest.fail)


def test_a_transient_upload_error_is_tried_again_and_a_refusal_is_not(gcs, bucket, tmp_path, monkeypatch):
    real = storage.Blob.upload_from_file
    answers = [gexc.ServiceUnavailable("blip"), None, gexc.Forbidden("no access")]

    def flaky(self, *args, **kwargs):
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return real(self, *args, **kwargs)

    monkeypatch.setattr(storage.Blob, "upload_from_file", flaky)
    slept: list[float] = []
    [uri] = staged(tmp_path / "a").upload(gcs.client(), "gs://bkt/stage", sleep=slept.append)
    assert slept == [1.0] and bucket.blob(uri.removeprefix("gs://bkt/")).exists()
    other = staged(tmp_path / "b")
    other.add({"key": "b", "request": {"content": {"parts": [{"text": "b"}]}}})  # another digest: uploaded
    with pytest.raises(PermissionDeniedError, match="gs://bkt/stage/.*/input.jsonl: Cloud Storage answered 403"):
        other.upload(gcs.client(), "gs://bkt/stage", sleep=slept.append)
    assert slept == [1.0]


def state() -> JobState:
    return JobState(source="s", output="o", model="gemini-embedding-2", space="gemini/gemini-embedding-2/4",
                    dimension=4, task=None, digest="d", display_name="n", staged_inputs=[], output_prefix="gs://bkt/o/",
                    rows=1, items={"a": "h"})


@pytest.mark.parametrize("where", ["listing", "reading"])
def test_collection_errors_of_cloud_storage_are_typed(gcs, bucket, tmp_path, monkeypatch, where):
    bucket.blob("o/run/predictions.jsonl").upload_from_string(b'{"key": "a", "response": {}}\n')
    if where == "listing":
        def refuse(*args, **kwargs):
            raise gexc.Forbidden("no list permission")
        monkeypatch.setattr(storage.Client, "list_blobs", refuse)
        expected, match = PermissionDeniedError, "gs://bkt/o/run/: Cloud Storage answered 403"
    else:
        def unavailable(self, *args, **kwargs):
            raise gexc.ServiceUnavailable("try later")
        monkeypatch.setattr(storage.Blob, "open", unavailable)
        expected, match = ServiceUnavailableError, "gs://bkt/o/run/predictions.jsonl: Cloud Storage answered 503"
    with Journal(tmp_path / "j.jsonl", space=state().space) as journal, pytest.raises(expected, match=match):
        collect_outputs(gcs.client(), "gs://bkt/o/run", state(), journal=journal, errors=ErrorSet(), missing_reason="-")


def test_the_cli_exits_2_with_one_line_when_the_staging_bucket_is_missing(gcs, gcs_emulator, image_folder, tmp_path,
                                                                         capsys):
    out = tmp_path / "o.jsonl"
    rc = main(["embed", str(image_folder(2)), "--out", str(out), "--backend", "gemini", "--api-endpoint",
               gcs_emulator.url, "--mode", "job", "--staging", "gs://no-such-bucket/stage", "--poll-interval", "0.05",
               "--no-progress", "--dimension", "128"])
    assert rc == 2
    assert "gs://no-such-bucket: the staging bucket does not exist" in capsys.readouterr().err
    assert not out.with_name("o.jsonl.job.json").exists() and gcs_emulator.app.state.batch_jobs.created == 0


def test_a_row_delivered_twice_keeps_its_vector_over_its_error(gcs, bucket, tmp_path):
    """If the service wrote a key twice (a failed try, then a success), the finished vector is
    kept; a second error or a second vector for a key is ignored."""
    ok = {"key": "a", "response": {"embedding": {"values": [3.0, 4.0, 0.0, 0.0]}}}
    failed = {"key": "a", "status": 'Service Unavailable: {"error": {"code": 503, "message": "x"}}'}
    bucket.blob("o/run/predictions_0001.jsonl").upload_from_string(json.dumps(failed) + "\n")
    bucket.blob("o/run/predictions_0002.jsonl").upload_from_string(f"{json.dumps(ok)}\n{json.dumps(failed)}\n")
    errors = ErrorSet()
    with Journal(tmp_path / "j.jsonl", space=state().space) as journal:
        found = collect_outputs(gcs.client(), "gs://bkt/o/run", state(), journal=journal, errors=errors,
                                missing_reason="-")
    assert (found.embedded, found.failed, found.unknown_rows, found.first_errors) == (1, 0, 2, [])
    assert len(errors) == 0 and [r["id"] for r in read_journal(tmp_path / "j.jsonl")] == ["a"]
