"""The journal's lines and its lock (issue 11 L3): lines that are not records are counted and
skipped alike by resume, read_journal and export_parquet; one run writes a journal at a time;
a failed Parquet export leaves no temporary file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from batch_doubles import ScriptedEmbedder

from vertex_mm.errors import VertexMMError
from vertex_mm.jobs import (
    Journal,
    JournalLineError,
    JournalLockedError,
    export_parquet,
    parse_record,
    read_journal,
    run_job,
)
from vertex_mm.jobs.writer import JournalStats, encode_record

GOOD = {"id": "a", "content_hash": "h1", "space": "s/m/2", "embedding": [0.5, 0.25]}

#: Complete lines that are not records, each with why.
NOT_RECORDS = [
    b"[1, 2]\n",  # JSON, not an object
    b"\"a string\"\n",
    b"5\n",
    b"null\n",
    b"{\"content_hash\": \"h\"}\n",  # no id
    b"{\"id\": 7, \"embedding\": [1.0]}\n",  # id not a string
    b"{\"id\": \"b\", \"content_hash\": 3, \"embedding\": [1.0]}\n",
    b"{\"id\": \"b\", \"embedding\": \"zz\"}\n",  # not a vector
    b"{\"id\": \"b\", \"embedding\": [true, 1.0]}\n",
    b"{\"id\": \"b\", \"embedding\": [NaN, 1.0]}\n",
    b"{\"id\": \"b\", \"embedding\": []}\n",
    b"{\"id\": \"b\", \"embedding\": [0.0, 0, -0.0]}\n",  # no direction: no index can use it
    b"{\"id\": \"b\", \"embedding\": [1e39, 1.0]}\n",  # infinite as float32
    b"{\"id\": \"b\"}\n",
    b"\xff\xfe not utf-8\n",
    b"[" * 100_000 + b"\n",  # nested too deep for the parser
]


@pytest.mark.parametrize("line", NOT_RECORDS, ids=range(len(NOT_RECORDS)))
def test_a_line_that_is_not_a_record_is_a_typed_line_error(line):
    with pytest.raises(JournalLineError):
        parse_record(line)
    assert issubclass(JournalLineError, VertexMMError)


def test_resume_counts_lines_that_are_not_records_and_keeps_the_good_ones(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(encode_record(GOOD) + b"".join(NOT_RECORDS) + encode_record({**GOOD, "id": "c"}))
    with Journal(path) as journal:
        assert (journal.scanned, journal.bad_lines, journal.torn_bytes) == (2, len(NOT_RECORDS), 0)
        assert journal.first_bad_lines == list(range(2, 12))
        assert journal.is_done("a", "h1") and journal.is_done("c", "h1") and "b" not in journal.done
        assert journal.write({**GOOD, "id": "b"})
    assert [r["id"] for r in read_journal(path)] == ["a", "c", "b"]


def test_export_skips_the_lines_resume_skipped_and_counts_them(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "out.jsonl"
    path.write_bytes(encode_record(GOOD) + b"".join(NOT_RECORDS) + encode_record({**GOOD, "id": "c"}))
    stats = JournalStats()
    assert export_parquet(path, tmp_path / "out.parquet", stats=stats) == 2
    assert stats.bad_lines == len(NOT_RECORDS) and stats.records == 2
    assert [r["id"] for r in pq.read_table(tmp_path / "out.parquet").to_pylist()] == ["a", "c"]


def test_a_failed_export_leaves_no_temporary_file(tmp_path):
    pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "out.jsonl"
    path.write_bytes(encode_record(GOOD))
    out = tmp_path / "out.parquet"
    out.mkdir()  # the rename into place fails
    (out / "keep").write_text("x")
    with pytest.raises(OSError):
        export_parquet(path, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.parquet"]


def test_a_job_reruns_the_inputs_whose_lines_were_not_records(image_folder, tmp_path):
    root = image_folder(3)
    out = tmp_path / "out.jsonl"
    run_job(ScriptedEmbedder(), root, out, dimension=128)
    lines = out.read_bytes().splitlines(keepends=True)
    first = json.loads(lines[0])
    lines[0] = json.dumps([first]).encode() + b"\n"  # valid JSON, not an object
    out.write_bytes(b"".join(lines))
    report = run_job(ScriptedEmbedder(), root, out, dimension=128)
    assert (report.embedded, report.skipped, report.bad_lines) == (1, 2, 1)
    assert "ignored 1 journal lines that are not records: line 1" in report.summary()


# -- one writer --------------------------------------------------------------------------


def test_a_second_writer_is_refused_with_the_first_ones_pid(tmp_path):
    path = tmp_path / "out.jsonl"
    with Journal(path) as first:
        first.write(GOOD)
        with pytest.raises(JournalLockedError, match=f"process {os.getpid()}") as caught:
            Journal(path).open()
        assert caught.value.pid == os.getpid()
    with Journal(path) as again:  # released on close
        assert again.is_done("a", "h1")


def test_a_second_writer_through_a_symlink_is_refused_too(tmp_path):
    path, link = tmp_path / "out.jsonl", tmp_path / "link.jsonl"
    path.touch()
    link.symlink_to(path)
    with Journal(path), pytest.raises(JournalLockedError):
        Journal(link).open()


def test_a_job_on_a_locked_journal_writes_nothing(image_folder, tmp_path):
    root = image_folder(2)
    out = tmp_path / "out.jsonl"
    emb = ScriptedEmbedder()
    with Journal(out), pytest.raises(JournalLockedError):
        run_job(emb, root, out, dimension=128)
    assert emb.total_calls == 0 and out.read_bytes() == b""


def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
    path = tmp_path / "out.jsonl"
    code = textwrap.dedent(f"""
        import sys, time
        from vertex_mm.jobs import Journal
        j = Journal({str(path)!r}).open()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(JournalLockedError) as caught:
            Journal(path).open()
        assert caught.value.pid == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    with Journal(path) as journal:
        journal.write(GOOD)
    assert [r["id"] for r in read_journal(path)] == ["a"]


@pytest.mark.parametrize("vec, why", [
    ([0.0, 0.0], "is all zeros"), ([1e39, 1.0], "within float32's range"), ([float("nan")], "within float32's range"),
    ([], "not a non-empty list"), ([True, 1.0], "not a number"),
])
def test_the_journal_refuses_to_write_what_it_could_not_read_back(tmp_path, vec, why):
    # Written, such records were lines every later read skipped (NaN), or vectors no index could
    # hold (zeros, 1e39): the item was neither done nor failed.
    with Journal(tmp_path / "j.jsonl") as journal:
        with pytest.raises(ValueError, match=why):
            journal.write({**GOOD, "embedding": vec})
        assert journal.write(GOOD)
    assert [r["id"] for r in read_journal(tmp_path / "j.jsonl")] == ["a"]
