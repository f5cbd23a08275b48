"""How a job reports failures: the first few quoted and the rest counted, advice that fits the
errors (running again does not fix a corrupt file), and missing credentials as the run's one
error instead of a failure per input; in-process and through ``vertex-mm embed``."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
from batch_doubles import ScriptedEmbedder
from factories import image_bytes

from vertex_mm.cli import main
from vertex_mm.errors import ServiceUnavailableError, UnauthenticatedError
from vertex_mm.gcs import EMULATOR_HOST_VAR
from vertex_mm.jobs import iter_source, read_journal, run_job
from vertex_mm.jobs.job import FIRST_ERRORS, JobReport


def _bad_files(root: Path, n: int) -> None:
    for i in range(n):
        (root / f"bad_{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken %d" % i)


def _keys(root: Path) -> list[str]:
    return [hashlib.sha256(Path(i.location).read_bytes()).hexdigest()[:16] for i in iter_source(root)
            if i.id.endswith(".jpg")]


def test_the_report_quotes_the_first_errors_and_counts_the_rest(image_folder, tmp_path):
    root = image_folder(2)
    _bad_files(root, FIRST_ERRORS + 2)
    report = run_job(ScriptedEmbedder(), root, tmp_path / "out.jsonl", dimension=128)
    assert (report.embedded, report.failed, report.retryable_failed) == (2, FIRST_ERRORS + 2, 0)
    lines = report.error_lines()
    assert len(lines) == FIRST_ERRORS + 1 and lines[:-1] == report.first_errors
    assert lines[-1] == f"... and 2 more (see {report.errors_file})"
    assert len(report.errors_file.read_text().splitlines()) == FIRST_ERRORS + 2  # all of them listed there
    # Corrupt files fail again on every run: no "run again to retry them".
    summary = report.summary()
    assert "fix or remove them" in summary and "retry" not in summary


def test_transient_failures_are_the_ones_a_new_run_retries(image_folder, tmp_path):
    root = image_folder(3)
    _bad_files(root, 1)
    flaky = ScriptedEmbedder(retry="none")
    flaky.script = {k: [ServiceUnavailableError("503")] for k in _keys(root)[:2]}
    report = run_job(flaky, root, tmp_path / "out.jsonl", dimension=128)
    assert (report.embedded, report.failed, report.retryable_failed) == (1, 3, 2)
    assert report.error_lines() == report.first_errors  # 3 failures: all quoted, no "... more"
    assert "1 bad inputs, which fail again on every run" in report.summary()
    assert "run again to retry the other 2" in report.summary()


def _error_ids(report: JobReport) -> list[str]:
    path = report.errors_file
    return sorted(json.loads(line)["id"] for line in path.read_text().splitlines()) if path.exists() else []


def test_the_errors_file_lists_the_inputs_that_still_fail_once_each(image_folder, tmp_path):
    # It only grew: an input embedded by a later run stayed "failed", a repeat failure was
    # listed twice, and a clean run left the old file behind.
    root = image_folder(3)
    _bad_files(root, 1)
    flaky = ScriptedEmbedder(retry="none")
    flaky.script = {_keys(root)[0]: [ServiceUnavailableError("503")]}
    first = run_job(flaky, root, tmp_path / "out.jsonl", dimension=128)
    assert first.failed == 2 and len(_error_ids(first)) == 2
    second = run_job(flaky, root, tmp_path / "out.jsonl", dimension=128)  # the 503 input goes through now
    assert (second.embedded, second.failed) == (1, 1) and _error_ids(second) == ["bad_0.png"]
    (root / "bad_0.png").unlink()
    third = run_job(flaky, root, tmp_path / "out.jsonl", dimension=128)
    assert third.failed == 0 and not third.errors_file.exists()


def test_an_interrupted_run_keeps_the_earlier_errors_of_the_inputs_it_did_not_reach(image_folder, tmp_path):
    root = image_folder(3)
    _bad_files(root, 2)
    first = run_job(ScriptedEmbedder(), root, tmp_path / "out.jsonl", dimension=128)
    assert _error_ids(first) == ["bad_0.png", "bad_1.png"]
    new = [root / f"a_new_{i}.jpg" for i in range(20)]  # listed before bad_*: Ctrl-C comes first
    for i, path in enumerate(new):
        path.write_bytes(image_bytes("JPEG", color=(i, 2 * i, 3 * i)))

    def ctrl_c(_key: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    second = run_job(ScriptedEmbedder(on_call=ctrl_c, concurrency=1), root, tmp_path / "out.jsonl", dimension=128)
    assert second.interrupted and second.embedded < len(new)
    assert _error_ids(second) == ["bad_0.png", "bad_1.png"]  # not reached: still failing, as far as anyone knows


@pytest.mark.parametrize(("failed", "retryable", "expected"), [
    (0, 0, None),
    (2, 2, "run again to retry them"),
    (2, 0, "bad inputs, which fail again on every run: fix or remove them"),
])
def test_the_summary_advice_follows_the_errors(failed, retryable, expected, tmp_path):
    report = JobReport(output=tmp_path / "o.jsonl", journal=tmp_path / "o.jsonl", seen=failed, failed=failed,
                       retryable_failed=retryable, errors_file=tmp_path / "o.jsonl.errors.jsonl")
    summary = report.summary()
    if expected is None:
        assert "errors in" not in summary
    else:
        assert expected in summary


def test_no_credentials_fails_the_run_once_instead_of_every_input(image_folder, tmp_path):
    root = image_folder(6)
    _bad_files(root, 1)
    emb = ScriptedEmbedder(retry="none", concurrency=2)
    emb.script = {k: [UnauthenticatedError("no Google credentials found")] * 3 for k in _keys(root)[3:]}
    out = tmp_path / "out.jsonl"
    with pytest.raises(UnauthenticatedError, match="no Google credentials"):
        run_job(emb, root, out, dimension=128)
    # What was done before stays done; the rest is not marked as failed inputs.
    done = {r["id"] for r in read_journal(out)} if out.exists() else set()
    logged = [json.loads(line)["error"] for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()] \
        if (tmp_path / "out.jsonl.errors.jsonl").exists() else []
    assert "UnauthenticatedError" not in logged
    assert len(done) <= 3
    report = run_job(ScriptedEmbedder(), root, out, dimension=128)  # with credentials: resumes
    assert report.embedded + report.skipped == 6 and report.skipped == len(done)


def test_the_command_lists_five_failures_and_says_how_many_more(image_folder, tmp_path, capsys):
    root = image_folder(2)
    _bad_files(root, 7)
    out = tmp_path / "g.jsonl"
    assert main(["embed", str(root), "--out", str(out), "--backend", "local", "--dimension", "128",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    quoted = [line for line in err.splitlines() if line.startswith("  bad_")]
    assert len(quoted) == 5 and f"  ... and 2 more (see {out}.errors.jsonl)" in err
    assert "9 inputs: 2 embedded, 0 already done, 7 failed" in err and "fix or remove them" in err


def test_the_command_without_credentials_exits_2_with_one_message(image_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(EMULATOR_HOST_VAR, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-adc.json"))
    root = image_folder(2)
    _bad_files(root, 5)
    out = tmp_path / "g.jsonl"
    rc = main(["embed", str(root), "--out", str(out), "--backend", "gemini", "--project", "my-proj",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("no Google credentials") == 1 and "Traceback" not in err
    assert "--api-endpoint http://127.0.0.1:PORT" in err  # the CLI's flag, not the Python argument
    assert "api_endpoint=" not in err


def test_web_urls_in_a_list_file_are_refused_as_urls_not_as_missing_files(image_folder, tmp_path):
    image_folder(1)
    listing = tmp_path / "l.txt"
    listing.write_text("http://example.com/a.jpg\nHTTPS://example.com/b.png\n"
                       "https://storage.googleapis.com/bkt/c.jpg\nimages/a/img_0000.jpg\n")
    report = run_job(ScriptedEmbedder(), listing, tmp_path / "out.jsonl", dimension=128)
    assert (report.embedded, report.failed) == (2, 2)
    errors = [json.loads(line) for line in report.errors_file.read_text().splitlines()]
    assert [(e["id"], e["error"]) for e in errors] == [("http://example.com/a.jpg", "InvalidURIError"),
                                                        ("HTTPS://example.com/b.png", "InvalidURIError")]
    assert all("web URLs are not fetched" in e["message"] for e in errors)
    records = {r["id"]: r for r in read_journal(tmp_path / "out.jsonl")}
    assert records["https://storage.googleapis.com/bkt/c.jpg"]["content_hash"] == "uri:gs://bkt/c.jpg"


def test_the_command_names_a_web_url_in_a_list_file(tmp_path, capsys):
    listing = tmp_path / "l.txt"
    listing.write_text("http://example.com/a.jpg\n")
    assert main(["embed", str(listing), "--out", str(tmp_path / "l.jsonl"), "--backend", "local",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "http://example.com/a.jpg: InvalidURIError" in err and "web URLs are not fetched" in err
    assert "http:/example.com" not in err  # not a collapsed path


def test_a_file_name_that_is_not_utf8_is_embedded_and_resumed(image_folder, tmp_path):
    # os.listdir gives such a name lone surrogates, which UTF-8 cannot encode: writing its
    # journal line raised UnicodeEncodeError out of run_job, on this run and every rerun.
    from vertex_mm.testing import HashedEmbedder

    root = image_folder(2)
    odd = Path(os.fsdecode(os.fsencode(root / "a") + b"/caf\xe9.jpg"))
    odd.write_bytes((root / "a" / "img_0000.jpg").read_bytes())
    out = tmp_path / "out.jsonl"
    first = run_job(HashedEmbedder(), root, out, dimension=128)
    assert (first.embedded, first.failed) == (3, 0)
    ids = [r["id"] for r in read_journal(out)]
    assert "a/caf\udce9.jpg" in ids and "a/img_0000.jpg" in ids
    assert b"caf\\udce9.jpg" in out.read_bytes()  # escaped on that line only
    again = run_job(HashedEmbedder(), root, out, dimension=128)
    assert (again.embedded, again.skipped) == (0, 3)


def test_a_vector_no_index_could_use_is_a_failure_not_a_record(image_folder, tmp_path, monkeypatch):
    # A zero (or NaN) answer was journalled: NaN as a line every read skipped, zeros as a record
    # no index accepts. Now the item fails, is listed, and is tried again on the next run.
    from vertex_mm.testing import HashedEmbedder

    root = image_folder(3)
    answered = HashedEmbedder._predict

    def zeros_once(self, request):
        out = answered(self, request)
        if not zeros_once.done and out.image_embedding:
            zeros_once.done = True
            out.image_embedding = [0.0] * len(out.image_embedding)
        return out

    zeros_once.done = False
    monkeypatch.setattr(HashedEmbedder, "_predict", zeros_once)
    out = tmp_path / "out.jsonl"
    report = run_job(HashedEmbedder(), root, out, dimension=128)
    assert zeros_once.done and (report.embedded, report.failed) == (2, 1)
    assert "all zeros" in (tmp_path / "out.jsonl.errors.jsonl").read_text()
    assert len(list(read_journal(out))) == 2
    again = run_job(HashedEmbedder(), root, out, dimension=128)
    assert (again.embedded, again.failed) == (1, 0)
