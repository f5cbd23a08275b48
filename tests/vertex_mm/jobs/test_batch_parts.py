"""The pieces of batch prediction jobs as pure functions: the price table and its estimates, the
--mode auto rule, the state file, the staged input, and per-row errors."""

from __future__ import annotations

import json

import pytest
from factories import image_bytes, mp4_bytes, pdf_bytes, wav_bytes

from vertex_mm import Audio, Document, Image, Video
from vertex_mm.errors import InvalidArgumentError, QuotaExceededError
from vertex_mm.jobs.batch_errors import BatchJobStateError, row_error
from vertex_mm.jobs.batch_state import JobState
from vertex_mm.jobs.mode import choose_mode
from vertex_mm.jobs.staging import StagedInput, display_name_for
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.pricing import GEMINI_EMBEDDING_2_PRICES, CostEstimate, content_tokens, content_usage
from vertex_mm.wire import EmbedRequest


def request(*parts):
    return EmbedRequest.create_content(list(parts), limits=GEMINI_EMBEDDING_2, dimension=128)


# -- pricing ---------------------------------------------------------------------------------


def test_tokens_follow_the_documented_rates_per_modality():
    assert content_tokens(request(Image(image_bytes()))) == 258
    assert content_tokens(request(Document(pdf_bytes(3)))) == 3 * 258
    assert content_tokens(request(Audio(wav_bytes(4.0)))) == 4 * 25
    assert content_tokens(request(Video(mp4_bytes(seconds=3.0, fps=2, size=(32, 32))))) == 3 * 66
    assert content_tokens(request("x" * 40)) == 10  # characters / 4


def test_gs_media_are_counted_at_their_limit_as_an_upper_bound():
    usage = content_usage(request(Document(gcs_uri="gs://bkt/d.pdf"), Video(gcs_uri="gs://bkt/v.mp4")))
    assert (usage["document"].units, usage["document"].upper_bound) == (6, True)
    assert (usage["video"].tokens, usage["video"].upper_bound) == (120 * 66, True)
    assert content_usage(request(Image(gcs_uri="gs://bkt/i.png")))["image"].tokens == 258


def test_batch_costs_half_and_the_table_states_its_source_and_date():
    est = CostEstimate.of([request(Image(image_bytes()))] * 1000)
    assert est.usd(batch=False) == pytest.approx(258_000 * 0.45 / 1e6)
    assert est.usd(batch=True) == pytest.approx(est.usd(batch=False) / 2)
    text = est.format()
    assert "image" in text and "258,000" in text and "third-party" in text and "2026-12-06" in text
    assert GEMINI_EMBEDDING_2_PRICES.batch_discount == 0.5


# -- --mode auto -----------------------------------------------------------------------------


@pytest.mark.parametrize(("inputs", "rpm", "backend", "staging", "mode"), [
    (7_201, 120, "gemini", "gs://b/p", "job"),       # more than an hour at 120 rpm
    (7_200, 120, "gemini", "gs://b/p", "online"),    # exactly an hour
    (100_000, 6000, "gemini", "gs://b/p", "online"),  # 17 min at a large quota
    (10**6, 120, "gemini", None, "online"),           # no staging: no job
    (10**6, 120, "vertex", "gs://b/p", "online"),     # jobs are a gemini path
    (10**6, None, "gemini", "gs://b/p", "online"),    # no rate limit: online is not slowed
])
def test_auto_takes_the_job_when_online_would_take_more_than_an_hour(inputs, rpm, backend, staging, mode):
    choice = choose_mode(inputs=inputs, requests_per_minute=rpm, backend=backend, staging=staging)
    assert choice.mode == mode and choice.reason


# -- state file and staging -----------------------------------------------------------------


def make_state(**kw):
    base = dict(source="src", output="out.jsonl", model="gemini-embedding-2", space="gemini/gemini-embedding-2/128",
                dimension=128, task=None, digest="d" * 64, display_name=display_name_for("d" * 64, "0a1b2c3d"),
                staged_inputs=["gs://b/p/input-00000.jsonl"], output_prefix="gs://b/p/output/", rows=1,
                items={"a.jpg": "sha256:1"})
    return JobState(**{**base, **kw})


def test_the_state_file_round_trips_and_is_replaced_whole(tmp_path):
    path = tmp_path / "out.jsonl.job.json"
    make_state().save(path)
    make_state(job_name="projects/p/locations/l/batchPredictionJobs/1").save(path)
    assert JobState.load(path).job_name.endswith("/1")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    assert JobState.load(tmp_path / "none.json") is None


def test_a_damaged_or_foreign_state_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(BatchJobStateError, match="delete it"):
        JobState.load(path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(BatchJobStateError, match="version"):
        JobState.load(path)
    with pytest.raises(BatchJobStateError, match="same flags"):
        make_state().check_matches(path=path, model="gemini-embedding-2", space="gemini/gemini-embedding-2/256")


def test_staged_input_is_one_file_within_the_byte_bound_and_named_by_content(tmp_path):
    line = {"key": "0", "request": {"content": {"parts": [{"text": "x" * 30}]}}}  # over half the bound

    def staged(n, folder):
        folder.mkdir()
        s = StagedInput(folder, model="m", task=None, max_file_bytes=100)
        taken = [s.add({**line, "key": str(i)}) for i in range(n)]
        s.close()
        return s, taken

    (a, taken), (b, _) = staged(3, tmp_path / "a"), staged(3, tmp_path / "b")
    assert taken == [True, False, False]  # the service takes one file of at most the bound per job
    assert a.files == [tmp_path / "a" / "input.jsonl"] and a.rows == 1 and a.path.stat().st_size == a.bytes <= 100
    assert a.digest == b.digest and a.prefix("gs://b/s/") == "gs://b/s/" + a.digest[:20]
    c = StagedInput(tmp_path, model="m", task=None, max_file_bytes=10)
    assert c.add({**line, "key": "other"}) and c.rows == 1  # a line over the bound alone is still sent (it cannot be split)
    c.close()
    assert c.digest != a.digest


def test_row_errors_are_typed_by_their_google_rpc_code():
    assert isinstance(row_error("k", "INVALID_ARGUMENT: bad"), InvalidArgumentError)
    quota = row_error("k", "RESOURCE_EXHAUSTED: later")
    assert isinstance(quota, QuotaExceededError) and quota.retryable
    assert type(row_error("k", "{'code': 13}")).__name__ == "APIError"


@pytest.mark.parametrize("status, cls, retryable", [
    ('Bad Request: {"error": {"code": 400, "message": "Please use a valid role", "status": "INVALID_ARGUMENT"}}',
     "InvalidArgumentError", False),
    ('Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}',
     "QuotaExceededError", True),
    ('Internal Server Error: {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}',
     "InternalServerError", True),
    ('Service Unavailable: {"error": {"code": 503, "message": "try later"}}', "ServiceUnavailableError", True),
])
def test_row_errors_in_googles_documented_status_form_are_typed(status, cls, retryable):
    """Google's Gemini batch page shows a failed row as ``"<HTTP reason>: {json error}"``."""
    error = row_error("k", status)
    assert (type(error).__name__, error.retryable) == (cls, retryable)
    assert "k:" in str(error)


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_output_lines_are_split_right_across_read_chunks(chunk):
    import io

    from vertex_mm.jobs.batch_collect import _lines

    data = b'{"key":"a"}\n{"key":"bb"}\n\n{"key":"ccc"}'
    assert list(_lines(io.BytesIO(data), chunk_bytes=chunk)) == [b'{"key":"a"}', b'{"key":"bb"}', b"", b'{"key":"ccc"}']


def test_output_rows_no_index_could_use_are_failures_not_records(tmp_path):
    # A NaN row became a journal line every read skipped (the item neither done nor failed), a
    # row of 1e200 was journalled as zeros (its norm overflowed), a zero row as it was.
    import io
    import json

    from vertex_mm.jobs.batch_collect import ErrorSet, collect_outputs
    from vertex_mm.jobs.batch_state import JobState
    from vertex_mm.jobs.writer import Journal, read_journal

    rows = {"nan": ["NaN", 1.0, 0.0, 0.0], "huge": [1e200, 1e200, 0.0, 0.0], "zero": [0.0] * 4, "ok": [3.0, 4.0, 0.0, 0.0]}
    data = "\n".join(json.dumps({"key": k, "response": {"embedding": {"values": v}}}) for k, v in rows.items()).encode()

    class Blob:
        name = "out/predictions.jsonl"

        def open(self, mode):
            return io.BytesIO(data)

    class Client:
        def list_blobs(self, bucket, prefix=None):
            return [Blob()]

    state = JobState(source="s", output="o", model="m", space="t/m/4", dimension=4, task=None, digest="d",
                     display_name="x", staged_inputs=[], output_prefix="gs://b/out", rows=4,
                     items={k: "h" + k for k in rows})
    errors = ErrorSet()
    with Journal(tmp_path / "j.jsonl") as journal:
        found = collect_outputs(Client(), "gs://b/out", state, journal=journal, errors=errors, missing_reason="x")
    assert (found.embedded, found.failed) == (1, 3)
    assert sorted(e["id"] for e in errors.entries()) == ["huge", "nan", "zero"]
    assert [(r["id"], r["embedding"]) for r in read_journal(tmp_path / "j.jsonl")] == [("ok", [0.6, 0.8, 0, 0])]
