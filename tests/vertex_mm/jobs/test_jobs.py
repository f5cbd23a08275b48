"""Resumable jobs in-process: sources, the journal (torn lines, exactly once), Parquet, resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from batch_doubles import BatchingEmbedder, ScriptedEmbedder
from factories import image_bytes

from vertex_mm.errors import InputError, InvalidArgumentError, ServiceUnavailableError
from vertex_mm.jobs import Journal, export_parquet, iter_source, read_journal, run_job
from vertex_mm.jobs.sources import LeftOut
from vertex_mm.jobs.writer import encode_record

# -- sources -------------------------------------------------------------------------------


def test_folder_source_is_recursive_sorted_and_images_only(image_folder):
    root = image_folder(5)
    (root / "b" / "scan.tif").write_bytes(b"II*\x00")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main")
    (root / ".thumbnails").mkdir()
    (root / ".thumbnails" / "small.jpg").write_bytes((root / "a" / "img_0000.jpg").read_bytes())
    left_out = LeftOut()
    ids = [item.id for item in iter_source(root, passed_over=left_out)]
    assert ids == ["a/img_0000.jpg", "a/img_0002.jpg", "a/img_0004.jpg", "b/img_0001.jpg", "b/img_0003.jpg"]
    # The other files are counted and named, not dropped silently; hidden files and folders are
    # nobody's input (.git is not reported, .thumbnails' images are not taken).
    assert (left_out.count, left_out.first) == (2, ["notes.txt", "b/scan.tif"])
    assert left_out.describe() == "2 files of other formats left out (notes.txt, b/scan.tif)"


def test_list_file_source_takes_paths_relative_to_itself_and_gs_uris(tmp_path, image_folder):
    image_folder(2)
    listing = tmp_path / "inputs.txt"
    listing.write_text("# my inputs\nimages/a/img_0000.jpg\n\n  gs://bucket/x/y.png \n")
    items = list(iter_source(listing))
    assert [i.id for i in items] == ["images/a/img_0000.jpg", "gs://bucket/x/y.png"]
    assert items[0].location == str(tmp_path / "images/a/img_0000.jpg")
    assert items[1].location == "gs://bucket/x/y.png"


def test_gs_prefix_is_listed_with_the_storage_client(mocker):
    from google.cloud import storage

    def blob(name, md5=None, crc=None):
        b = mocker.Mock(spec=["name", "md5_hash", "crc32c", "etag"])
        b.name, b.md5_hash, b.crc32c, b.etag = name, md5, crc, "e1"
        return b

    client = mocker.Mock(spec=storage.Client)
    client.list_blobs.return_value = iter([
        blob("photos/", None), blob("photos/cat.JPG", "q1w2=="), blob("photos/readme.md", "zz"),
        blob("photos/sub/dog.webp", None, "AAAA"),
    ])
    left_out = LeftOut()
    items = list(iter_source("gs://my-bucket/photos/", storage_client=client, passed_over=left_out))
    client.list_blobs.assert_called_once_with("my-bucket", prefix="photos/")
    assert left_out.first == ["gs://my-bucket/photos/readme.md"]
    assert [(i.id, i.content_hash) for i in items] == [
        ("gs://my-bucket/photos/cat.JPG", "md5:q1w2=="),
        ("gs://my-bucket/photos/sub/dog.webp", "crc32c:AAAA"),
    ]


def test_gs_source_builds_its_default_client_lazily(mocker):
    from google.cloud import storage

    made = mocker.patch.object(storage, "Client", autospec=True)
    made.return_value.list_blobs.return_value = iter([])
    assert list(iter_source("gs://bkt")) == []
    made.assert_called_once_with()
    made.return_value.list_blobs.assert_called_once_with("bkt", prefix=None)


def test_a_list_file_with_a_byte_order_mark_or_a_latin1_line_names_the_files_it_lists(tmp_path, image_folder):
    # Notepad's BOM was part of the first path ("no such file"), and a Latin-1 line stopped the
    # whole run with UnicodeDecodeError.
    root = image_folder(1)
    odd = Path(os.fsdecode(os.fsencode(root / "a") + b"/caf\xe9.jpg"))
    odd.write_bytes((root / "a" / "img_0000.jpg").read_bytes())
    listing = tmp_path / "inputs.txt"
    listing.write_bytes(b"\xef\xbb\xbfimages/a/img_0000.jpg\r\nimages/a/caf\xe9.jpg\r\n")
    items = list(iter_source(listing))
    assert [i.id for i in items] == ["images/a/img_0000.jpg", "images/a/caf\udce9.jpg"]
    assert all(Path(i.location).is_file() for i in items)
    report = run_job(ScriptedEmbedder(), listing, tmp_path / "out.jsonl", dimension=128)
    assert (report.embedded, report.failed) == (2, 0)


def test_one_media_file_as_source_is_that_file_and_a_binary_file_is_not_a_list(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes())
    assert [(i.id, i.location) for i in iter_source(photo)] == [("photo.jpg", str(photo))]
    archive = tmp_path / "photos.zip"
    archive.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)))
    with pytest.raises(InputError, match=r"photos\.zip: not a list file \(binary data\)"):
        iter_source(archive)  # when given, before OUT is made


def test_a_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such folder or list file"):
        iter_source(tmp_path / "nope")


# -- the journal --------------------------------------------------------------------------


def test_a_torn_last_line_is_cut_off_and_the_job_appends_after_it(tmp_path):
    path = tmp_path / "out.jsonl"
    whole = encode_record({"id": "a", "content_hash": "h1", "embedding": [0.5, 0.25]})
    path.write_bytes(whole + encode_record({"id": "b", "content_hash": "h2", "embedding": [1.0]})[:-9])
    with Journal(path) as journal:
        assert journal.is_done("a", "h1") and len(journal.done) == 1 and journal.torn_bytes > 0
        journal.write({"id": "b", "content_hash": "h2", "embedding": [1.0, 2.0]})
    assert [r["id"] for r in read_journal(path)] == ["a", "b"]
    assert path.read_bytes().count(b"\n") == 2


def test_the_same_id_and_hash_is_written_once(tmp_path):
    with Journal(tmp_path / "out.jsonl") as journal:
        assert journal.write({"id": "a", "content_hash": "h", "embedding": [1.0]})
        assert not journal.write({"id": "a", "content_hash": "h", "embedding": [1.0]})
        assert journal.write({"id": "a", "content_hash": "changed", "embedding": [2.0]})
    assert len(list(read_journal(tmp_path / "out.jsonl"))) == 2


def test_writes_are_fsynced_in_groups(tmp_path, mocker):
    fsync = mocker.spy(os, "fsync")
    with Journal(tmp_path / "out.jsonl", fsync_every=4, fsync_interval=3600) as journal:
        for i in range(10):
            journal.write({"id": str(i), "content_hash": "h", "embedding": [float(i) + 1]})
        assert fsync.call_count == 2  # after records 4 and 8
    assert fsync.call_count == 3  # and the last two on close


def test_vectors_are_stored_as_exact_float32():
    import numpy as np

    vec = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    record = json.loads(encode_record({"id": "x", "embedding": vec.tolist()}))
    np.testing.assert_array_equal(np.float32(record["embedding"]), vec)


def test_parquet_export_keeps_the_latest_record_per_id(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    journal = tmp_path / "out.parquet.journal.jsonl"
    with Journal(journal) as j:
        j.write({"id": "a", "content_hash": "h1", "space": "s/m/2", "embedding": [1.0, 2.0]})
        j.write({"id": "b", "content_hash": "h2", "space": "s/m/2", "embedding": [3.0, 4.0]})
        j.write({"id": "a", "content_hash": "h3", "space": "s/m/2", "embedding": [5.0, 6.0]})
    assert export_parquet(journal, tmp_path / "out.parquet", rows_per_group=1) == 2
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert table == [
        {"id": "b", "content_hash": "h2", "space": "s/m/2", "embedding": [3.0, 4.0]},
        {"id": "a", "content_hash": "h3", "space": "s/m/2", "embedding": [5.0, 6.0]},
    ]


# -- run_job ------------------------------------------------------------------------------


def _ids(path):
    return [r["id"] for r in read_journal(path)]


def test_a_job_embeds_every_image_once_and_a_rerun_skips_them(image_folder, tmp_path):
    root = image_folder(9)
    out = tmp_path / "out.jsonl"
    first = run_job(ScriptedEmbedder(concurrency=3), root, out, dimension=128)
    assert (first.embedded, first.skipped, first.failed, first.complete) == (9, 0, 0, True)
    assert first.left_out.count == 1 and "1 file of another format left out (notes.txt)" in first.summary()
    records = list(read_journal(out))
    assert sorted(r["id"] for r in records) == sorted(i.id for i in iter_source(root))
    assert all(len(r["embedding"]) == 128 and r["space"] == "test/scripted/128" for r in records)
    assert all(r["content_hash"].startswith("sha256:") for r in records)
    emb = ScriptedEmbedder(concurrency=3)
    again = run_job(emb, root, out, dimension=128)
    assert (again.embedded, again.skipped) == (0, 9) and emb.total_calls == 0


def test_a_changed_file_is_embedded_again(image_folder, tmp_path):
    root = image_folder(3)
    out = tmp_path / "out.jsonl"
    run_job(ScriptedEmbedder(), root, out, dimension=128)
    (root / "a/img_0000.jpg").write_bytes(image_bytes("JPEG", color=(1, 2, 3)))
    report = run_job(ScriptedEmbedder(), root, out, dimension=128)
    assert (report.embedded, report.skipped) == (1, 2)
    assert _ids(out).count("a/img_0000.jpg") == 2  # the later line wins


def test_failed_inputs_are_logged_and_retried_by_the_next_run(image_folder, tmp_path):
    root = image_folder(4)
    (root / "a" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out.jsonl"
    flaky = ScriptedEmbedder(retry="none")
    flaky.script = {k: [ServiceUnavailableError("503")] for k in _content_keys(root, flaky)[:1]}
    first = run_job(flaky, root, out, dimension=128)
    assert (first.embedded, first.failed) == (3, 2) and not first.complete
    logged = [json.loads(line) for line in first.errors_file.read_text().splitlines()]
    assert {e["error"] for e in logged} == {"ServiceUnavailableError", "InvalidImageError"}
    second = run_job(ScriptedEmbedder(), root, out, dimension=128)
    assert (second.embedded, second.skipped, second.failed) == (1, 3, 1)  # the corrupt file stays bad
    assert len(_ids(out)) == 4 == len(set(_ids(out)))


def _content_keys(root, emb):
    import hashlib

    return [hashlib.sha256(Path(i.location).read_bytes()).hexdigest()[:16] for i in iter_source(root)
            if i.id.endswith(".jpg")]


def test_a_batching_backend_runs_jobs_in_chunks(image_folder, tmp_path):
    root = image_folder(7)
    emb = BatchingEmbedder(chunk_size=3)
    report = run_job(emb, root, tmp_path / "out.jsonl", dimension=128)
    assert report.embedded == 7 and emb.batches == [3, 3, 1]


def test_a_parquet_job_keeps_a_journal_and_writes_parquet_at_the_end(image_folder, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    root = image_folder(4)
    report = run_job(ScriptedEmbedder(concurrency=2), root, tmp_path / "emb.parquet", dimension=256)
    assert report.journal == tmp_path / "emb.parquet.journal.jsonl"
    rows = pq.read_table(tmp_path / "emb.parquet").to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(i.id for i in iter_source(root))
    assert all(len(r["embedding"]) == 256 for r in rows)


def test_a_400_is_reported_not_retried_in_a_job(image_folder, tmp_path):
    root = image_folder(2)
    emb = ScriptedEmbedder(retry="default")
    key = _content_keys(root, emb)[0]
    emb.script = {key: [InvalidArgumentError("400 INVALID_ARGUMENT")]}
    report = run_job(emb, root, tmp_path / "out.jsonl", dimension=128)
    assert report.failed == 1 and emb.calls[key] == 1


def test_a_gs_job_sends_uris_and_resumes_from_the_listing_hashes(mocker, tmp_path):
    from google.cloud import storage

    def listing():
        blobs = []
        for i in range(5):
            b = mocker.Mock(spec=["name", "md5_hash", "crc32c", "etag"])
            b.name, b.md5_hash, b.crc32c, b.etag = f"p/{i}.png", f"md5-{i}", None, None
            blobs.append(b)
        return iter(blobs)

    client = mocker.Mock(spec=storage.Client)
    client.list_blobs.side_effect = lambda *a, **k: listing()
    emb = ScriptedEmbedder(concurrency=2)
    out = tmp_path / "out.jsonl"
    report = run_job(emb, "gs://bkt/p/", out, dimension=128, storage_client=client)
    assert report.embedded == 5 and emb.total_calls == 5
    records = list(read_journal(out))
    assert sorted(r["id"] for r in records) == [f"gs://bkt/p/{i}.png" for i in range(5)]
    assert {r["content_hash"] for r in records} == {f"md5:md5-{i}" for i in range(5)}
    again = ScriptedEmbedder()
    assert run_job(again, "gs://bkt/p/", out, dimension=128, storage_client=client).skipped == 5
    assert again.total_calls == 0


def test_progress_counts_skipped_inputs_and_shows_rate_and_eta(image_folder, tmp_path, capsys):
    root = image_folder(4)
    run_job(ScriptedEmbedder(), root, tmp_path / "o.jsonl", dimension=128)
    assert capsys.readouterr().err == ""  # library calls draw nothing by default
    (root / "a" / "new.jpg").write_bytes(image_bytes("JPEG", color=(9, 9, 9)))
    run_job(ScriptedEmbedder(), root, tmp_path / "o.jsonl", dimension=128, progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "skipped=4" in err and "item/s" in err and "<00:00" in err


def test_a_list_file_naming_dev_zero_or_a_missing_file_gives_typed_errors_and_the_job_goes_on(image_folder, tmp_path):
    """Issue 11 L8: each file was read whole before any size check (/dev/zero never ended)."""
    from vertex_mm.errors import ImageTooLargeError, InputNotFoundError
    from vertex_mm.jobs import load_item

    image_folder(1)
    listing = tmp_path / "inputs.txt"
    listing.write_text("/dev/zero\nimages/a/img_0000.jpg\nnowhere.jpg\n")
    items = list(iter_source(listing))
    with pytest.raises(ImageTooLargeError, match="more than"):
        load_item(items[0])
    with pytest.raises(InputNotFoundError):
        load_item(items[2])
    report = run_job(ScriptedEmbedder(), listing, tmp_path / "out.jsonl", dimension=128)
    assert (report.embedded, report.failed) == (1, 2)


def test_parquet_export_keeps_a_row_whose_id_is_not_utf8_with_its_bytes_escaped(tmp_path):
    # os.listdir hands a Latin-1 name over as 'caf\udce9.jpg'; Parquet strings are UTF-8. The
    # export raised UnicodeEncodeError on every run after paying for every input.
    pq = pytest.importorskip("pyarrow.parquet")
    journal = tmp_path / "out.parquet.journal.jsonl"
    with Journal(journal) as j:
        j.write({"id": "caf\udce9.jpg", "content_hash": "h1", "space": "s/m/2", "embedding": [1.0, 2.0]})
        j.write({"id": "b.jpg", "content_hash": "h2", "space": "s/m/2", "embedding": [3.0, 4.0]})
    with pytest.warns(UserWarning, match=r"1 ids are not UTF-8 text .*'caf\\udce9.jpg'.*\(caf\\xe9.jpg\)"):
        assert export_parquet(journal, tmp_path / "out.parquet") == 2
    assert [r["id"] for r in pq.read_table(tmp_path / "out.parquet").to_pylist()] == ["caf\\xe9.jpg", "b.jpg"]
