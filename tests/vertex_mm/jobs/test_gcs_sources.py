"""``gs://`` sources and ``--staging`` prefixes: the bucket naming rule of ``Image(gcs_uri=...)``
checked before any client is made, no credentials as a typed error with a way forward, a
missing bucket named; from Python and from ``vertex-mm embed`` (exit 2, nothing written)."""

from __future__ import annotations

import pytest

from vertex_mm.cli import main
from vertex_mm.errors import InvalidURIError, UnauthenticatedError
from vertex_mm.gcs import EMULATOR_HOST_VAR, ObjectNotFoundError, check_gs_prefix
from vertex_mm.jobs import iter_source
from vertex_mm.limits import check_gcs_uri

BAD_BUCKETS = ["gs://Bad_Bucket", "gs://B/p", "gs://ab/x", "gs://", "gs:///photos", "gs://bu..cket/p", "gs://-bkt/p"]


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No Application Default Credentials and no storage emulator: google-auth fails at once
    (a credentials file that does not exist) instead of probing a metadata server."""
    monkeypatch.delenv(EMULATOR_HOST_VAR, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-adc.json"))


@pytest.mark.parametrize("uri", BAD_BUCKETS)
def test_a_bad_bucket_name_is_refused_with_the_image_uri_rule(uri, no_credentials):
    # The same rule as Image(gcs_uri=...): what one refuses the other refuses.
    with pytest.raises(InvalidURIError):
        check_gcs_uri(f"gs://{uri[len('gs://'):].partition('/')[0]}/x.jpg")
    with pytest.raises(InvalidURIError, match="bucket") as info:
        iter_source(uri)  # before any client: no credentials are looked for
    assert info.value.input_name == "source" and "3-222" in str(info.value)


@pytest.mark.parametrize(("uri", "parts"), [
    ("gs://bkt", ("bkt", "")),
    ("gs://my-bucket/photos/", ("my-bucket", "photos/")),
    ("gs://b_1.example/a/b", ("b_1.example", "a/b")),
])
def test_a_good_prefix_splits_into_bucket_and_prefix(uri, parts):
    assert check_gs_prefix(uri) == parts


def test_a_gs_source_without_credentials_is_a_typed_error_with_a_way_forward(no_credentials):
    with pytest.raises(UnauthenticatedError) as info:
        iter_source("gs://my-bucket/photos")
    text = str(info.value)
    assert "gs://my-bucket/photos" in text and "gcloud auth application-default login" in text
    assert EMULATOR_HOST_VAR in text  # how to use a storage emulator instead


def test_a_missing_bucket_is_named(gcs):
    with pytest.raises(ObjectNotFoundError, match="no-such-bucket.*no such Cloud Storage bucket"):
        list(iter_source("gs://no-such-bucket/photos"))


def test_staging_of_a_python_batch_job_is_checked_with_the_same_rule(tmp_path, no_credentials):
    from vertex_mm import get_embedder
    from vertex_mm.jobs.batch_prediction import run_batch_job

    emb = get_embedder("gemini", api_endpoint="http://127.0.0.1:9")
    try:
        with pytest.raises(InvalidURIError, match="staging.*'B'"):
            run_batch_job(emb, tmp_path, tmp_path / "o.jsonl", staging="gs://B/p")
        with pytest.raises(UnauthenticatedError, match="staging a batch prediction job"):
            run_batch_job(emb, tmp_path, tmp_path / "o.jsonl", staging="gs://my-bucket/p")
    finally:
        emb.close()
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["gs://Bad_Bucket", "--backend", "local"], "source: 'gs://Bad_Bucket' has no valid bucket name"),
    (["gs://my-bucket/photos", "--backend", "local"], "no Google credentials for Cloud Storage"),
    (["SRC", "--backend", "gemini", "--mode", "job", "--staging", "gs://B/p"], "--staging: 'gs://B/p'"),
    (["SRC", "--backend", "gemini", "--mode", "job", "--staging", "gs://my-bucket/p"],
     "no Google credentials for Cloud Storage"),
])
def test_the_command_exits_2_with_one_line_and_writes_nothing(args, message, no_credentials, tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    (source / "doc.pdf").write_bytes(b"%PDF-1.4")
    out = tmp_path / "o.jsonl"
    argv = ["embed", *[str(source) if a == "SRC" else a for a in args], "--out", str(out), "--no-progress"]
    if "gemini" in args:
        argv += ["--api-endpoint", "http://127.0.0.1:9"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_prefix_without_a_slash_is_the_folder_of_that_name_not_its_siblings(gcs, bucket):
    # gs://bkt/photos took photos-old/ and photos_backup_2019/ too (a raw name prefix).
    for name in ("photos/a.jpg", "photos/sub/b.jpg", "photos-old/c.jpg", "photos_backup_2019/d.jpg", "shots-2024-1.jpg",
                 "shots-2024-2.jpg", "shots-2023-1.jpg"):
        bucket.blob(name).upload_from_string(b"x")
    folder = [i.id for i in iter_source("gs://bkt/photos", storage_client=gcs.client())]
    assert folder == ["gs://bkt/photos/a.jpg", "gs://bkt/photos/sub/b.jpg"]
    assert [i.id for i in iter_source("gs://bkt/photos/", storage_client=gcs.client())] == folder
    names = [i.id for i in iter_source("gs://bkt/shots-2024", storage_client=gcs.client())]  # no such folder
    assert names == ["gs://bkt/shots-2024-1.jpg", "gs://bkt/shots-2024-2.jpg"]
