"""Batch prediction jobs of gemini-embedding-2 in the emulator, driven by the unmodified
google-genai SDK (``client.batches``), with inputs and outputs in the storage emulator."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from factories import image_bytes, pdf_bytes

from vertex_mm import Image
from vertex_mm.testing import HashedEmbedder

ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def text_line(key: str, text: str, dimension: int | None = 128) -> dict:
    request: dict = {"content": {"parts": [{"text": text}]}}
    if dimension:
        request["embed_content_config"] = {"output_dimensionality": dimension}
    return {"key": key, "request": request}


def inline_line(key: str, data: bytes, mime: str) -> dict:
    part = {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}
    return {"key": key, "request": {"content": {"parts": [part]}, "embed_content_config": {"output_dimensionality": 128}}}


def stage(bucket, name: str, lines: list, extra: str = "") -> str:
    bucket.blob(name).upload_from_string("".join(json.dumps(x) + "\n" for x in lines) + extra)
    return f"gs://bkt/{name}"


def create(genai, src, dest: str = "gs://bkt/out/", name: str = "job"):
    from google.genai import types

    return genai.batches.create(model="gemini-embedding-2", src=src,
                                config=types.CreateBatchJobConfig(dest=dest, display_name=name))


def wait(genai, job, states=ENDED, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while job.state.value not in states:
        assert time.monotonic() < deadline, f"job stuck in {job.state}"
        time.sleep(0.02)
        job = genai.batches.get(name=job.name)
    return job


def outputs(bucket, job) -> dict[str, dict]:
    directory = job.output_info.gcs_output_directory
    assert directory.startswith("gs://bkt/")
    blob = bucket.blob(directory[len("gs://bkt/"):] + "/predictions.jsonl")
    return {row["key"]: row for row in map(json.loads, blob.download_as_text().splitlines())}


def test_a_job_runs_from_pending_to_succeeded_and_writes_one_line_per_input(genai, bucket):
    src = stage(bucket, "in/a.jsonl", [text_line("t1", "a sunny beach"), text_line("t2", "snow", dimension=None)])
    job = create(genai, src, name="docs")
    assert job.state.value == "JOB_STATE_PENDING"
    assert job.name.startswith("projects/test-project/locations/global/batchPredictionJobs/")
    assert job.display_name == "docs" and job.model == "publishers/google/models/gemini-embedding-2"
    job = wait(genai, job)
    assert job.state.value == "JOB_STATE_SUCCEEDED"
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count,
            job.completion_stats.incomplete_count) == (2, 0, 0)
    assert job.output_info.gcs_output_directory.startswith("gs://bkt/out/prediction-model-")
    assert job.create_time <= job.start_time <= job.end_time
    rows = outputs(bucket, job)
    expected = HashedEmbedder().embed_content("a sunny beach", dimension=128)
    np.testing.assert_allclose(rows["t1"]["response"]["embedding"]["values"], expected, rtol=1e-5, atol=1e-7)
    assert len(rows["t2"]["response"]["embedding"]["values"]) == 3072  # the default dimension
    assert rows["t1"]["request"] == text_line("t1", "a sunny beach")["request"]
    assert rows["t1"]["response"]["tokenCount"] == "4"  # int64 as a string; chars / 4


def test_bad_lines_become_status_lines_and_the_job_goes_on(genai, bucket):
    bucket.blob("media/long.pdf").upload_from_string(pdf_bytes(7))
    bucket.blob("media/ok.png").upload_from_string(image_bytes("PNG"))
    gs = lambda key, uri, mime: {"key": key, "request": {"content": {"parts": [  # noqa: E731
        {"fileData": {"fileUri": uri, "mimeType": mime}}]}}}
    lines = [
        inline_line("corrupt", b"%PDF-1.7 not really", "application/pdf"),
        gs("seven-pages", "gs://bkt/media/long.pdf", "application/pdf"),
        gs("missing", "gs://bkt/media/nope.png", "image/png"),
        gs("ok", "gs://bkt/media/ok.png", "image/png"),
        {"key": "no-request"},
    ]
    job = wait(genai, create(genai, stage(bucket, "in/bad.jsonl", lines, extra="{not json\n")))
    assert job.state.value == "JOB_STATE_SUCCEEDED"
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (1, 5)
    rows = outputs(bucket, job)
    assert "7 pages" in rows["seven-pages"]["status"]
    assert "gs://bkt/media/nope.png" in rows["missing"]["status"]
    # Google's documented form: the HTTP reason, then the JSON error envelope.
    reason, _, envelope = rows["corrupt"]["status"].partition(": ")
    assert reason == "Bad Request"
    assert json.loads(envelope)["error"]["status"] == "INVALID_ARGUMENT"
    assert json.loads(envelope)["error"]["code"] == 400
    assert rows["ok"]["status"] == "" and rows["ok"]["processed_time"].endswith("Z")
    assert "request" in rows["no-request"]["status"]
    assert "not JSON" in rows[""]["status"]
    expected = HashedEmbedder().embed_content(Image(image_bytes("PNG")), dimension=3072)
    np.testing.assert_allclose(rows["ok"]["response"]["embedding"]["values"], expected, rtol=1e-5, atol=1e-7)


def test_a_job_of_several_input_files_is_refused_as_gemini_takes_one(genai, bucket):
    from google.genai import errors, types

    a = stage(bucket, "in/part-0.jsonl", [text_line("a", "one")])
    b = stage(bucket, "in/part-1.jsonl", [text_line("b", "two"), text_line("c", "three")])
    with pytest.raises(errors.ClientError, match="accepts one JSONL file"):
        create(genai, types.BatchJobSource(format="jsonl", gcs_uri=[a, b]))
    job = wait(genai, create(genai, types.BatchJobSource(format="jsonl", gcs_uri=[b])))
    assert sorted(outputs(bucket, job)) == ["b", "c"]


def test_a_slow_job_is_seen_running_with_live_counts_and_can_be_cancelled(genai, bucket, gcs_emulator):
    gcs_emulator.set_faults(batch_line_latency=0.05)
    src = stage(bucket, "in/slow.jsonl", [text_line(f"k{i}", f"text {i}") for i in range(200)])
    job = wait(genai, create(genai, src), states={"JOB_STATE_RUNNING"})
    while job.completion_stats.successful_count < 2:
        job = genai.batches.get(name=job.name)
    assert job.state.value == "JOB_STATE_RUNNING" and job.completion_stats.incomplete_count > 0
    genai.batches.cancel(name=job.name.rsplit("/", 1)[-1])  # the SDK takes the bare id too
    job = wait(genai, job)
    assert job.state.value == "JOB_STATE_CANCELLED"
    done = job.completion_stats.successful_count
    assert 0 < done < 200 and job.completion_stats.incomplete_count == 200 - done
    assert len(outputs(bucket, job)) == done  # what was done is written


def test_a_pending_job_cancels_at_once(genai, bucket, gcs_emulator):
    gcs_emulator.set_faults(batch_start_delay=30.0)
    job = create(genai, stage(bucket, "in/x.jsonl", [text_line("a", "x")]))
    genai.batches.cancel(name=job.name)
    assert genai.batches.get(name=job.name).state.value == "JOB_STATE_CANCELLED"


def test_an_unreadable_input_fails_the_job_with_its_reason(genai):
    job = wait(genai, create(genai, "gs://bkt/in/missing.jsonl"))
    assert job.state.value == "JOB_STATE_FAILED"
    assert "gs://bkt/in/missing.jsonl" in job.error.message


def test_list_pages_newest_first_and_filters_by_display_name(genai, bucket):
    src = stage(bucket, "in/l.jsonl", [text_line("a", "x")])
    names = [create(genai, src, name=f"job-{i}").name for i in range(5)]
    first = genai.batches.list(config={"page_size": 2})
    assert [j.name for j in first.page] == names[::-1][:2]
    assert [j.name for j in genai.batches.list(config={"page_size": 2})] == names[::-1]  # the pager follows tokens
    found = list(genai.batches.list(config={"filter": 'display_name="job-3"'}))
    assert [j.name for j in found] == [names[3]]


def test_unknown_jobs_are_404_and_finished_jobs_cannot_be_cancelled(genai, bucket):
    from google.genai import errors

    with pytest.raises(errors.ClientError) as info:
        genai.batches.get(name="123")
    assert info.value.code == 404
    job = wait(genai, create(genai, stage(bucket, "in/c.jsonl", [text_line("a", "x")])))
    with pytest.raises(errors.ClientError, match="already in state JOB_STATE_SUCCEEDED"):
        genai.batches.cancel(name=job.name)
    genai.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError):
        genai.batches.get(name=job.name)


def test_the_v1_api_serves_the_same_jobs(gcs_emulator, genai_for, bucket):
    client = genai_for(gcs_emulator.url, api_version="v1")
    job = wait(client, create(client, stage(bucket, "in/v1.jsonl", [text_line("a", "x")])))
    assert job.state.value == "JOB_STATE_SUCCEEDED"


@pytest.mark.parametrize(("src", "dest", "message"), [
    ("bq://proj.dataset.table", "gs://bkt/out/", "BigQuery"),
    ("gs://bkt/in.jsonl", "bq://proj.dataset.out", "BigQuery"),
])
def test_bigquery_is_refused_for_gemini_embeddings(genai, src, dest, message):
    from google.genai import errors

    with pytest.raises(errors.ClientError, match=message):
        create(genai, src, dest=dest)


def test_create_is_refused_when_batch_is_switched_off_or_there_is_no_storage(genai, gcs_emulator, genai_for,
                                                                             monkeypatch):
    from google.genai import errors

    from vertex_mm.emulator import run_emulator

    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    gcs_emulator.set_faults(batch_unsupported=True)
    with pytest.raises(errors.ClientError, match="not supported") as info:
        create(genai, "gs://bkt/in.jsonl")
    assert info.value.status == "FAILED_PRECONDITION"
    with run_emulator(backend="hashed") as bare:
        with pytest.raises(errors.ClientError, match="STORAGE_EMULATOR_HOST"):
            create(genai_for(bare.url), "gs://bkt/in.jsonl")
    assert gcs_emulator.app.state.batch_jobs.created == 0


def test_a_line_with_a_bare_nan_is_not_json_as_the_service_reads_it(genai, bucket):
    bucket.blob("media/ok.png").upload_from_string(image_bytes("PNG"))
    ok = {"key": "ok", "request": {"content": {"parts": [{"fileData": {"fileUri": "gs://bkt/media/ok.png",
                                                                        "mimeType": "image/png"}}]}}}
    nan_line = '{"key": "nan", "request": {"content": {"parts": [{"text": "a"}]}, "x": NaN}}\n'
    job = wait(genai, create(genai, stage(bucket, "in/nan.jsonl", [ok], extra=nan_line)))
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (1, 1)
    rows = outputs(bucket, job)
    assert "not JSON" in rows[""]["status"] and "NaN" in rows[""]["status"]
