"""The per-worker rate limit holds: each SDK process sends no more than its share of the quota.

The emulator enforces a sliding-window quota equal to one process's share (plus a little
slack for network jitter) and retries are off, so a single request over the share would come
back as a 429 dead letter. The control run gives the process twice the share and must earn 429s:
that is what shows the limiter, not luck, kept the first run clean. Both checks count requests;
none measures time.
"""

from __future__ import annotations

import pytest

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
beam = pytest.importorskip("apache_beam", reason=BEAM_SKIP)

from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to, is_empty  # noqa: E402
from factories import image_bytes  # noqa: E402

from vertex_mm.beam import EmbedImages, WorkerQuota  # noqa: E402
from vertex_mm.emulator import run_emulator  # noqa: E402

PROJECT_QUOTA_RPM = 600
MAX_WORKERS = 2
SHARE_RPM = PROJECT_QUOTA_RPM // MAX_WORKERS  # 300 rpm = 5 requests/s per process
WINDOW_S = 6.0
# The token bucket of a process (rate r, burst b: one second's worth by default) starts at most
# b + r*w requests in any window w: 5 + 30 = 35 here. The emulator admits 40 per window: the
# slack absorbs requests that started on time but reach the server late and bunched (the first
# ones wait for their HTTP connections).
BUCKET_BOUND = SHARE_RPM / 60 * (1 + WINDOW_S)
EMULATOR_RPM = 400
N = 50


def _inputs():
    return [{"id": f"i{i}", "bytes": image_bytes("PNG", size=(8, 8), color=(i, 0, 0))} for i in range(N)]


@pytest.mark.slow
def test_each_process_stays_within_its_share_of_the_project_quota():
    quota = WorkerQuota(quota_rpm=PROJECT_QUOTA_RPM, max_workers=MAX_WORKERS)
    assert quota.per_process_rpm == SHARE_RPM
    assert BUCKET_BOUND < EMULATOR_RPM / 60 * WINDOW_S < N
    with run_emulator(backend="hashed", quota_rpm=EMULATOR_RPM, quota_window=WINDOW_S) as emu:
        with BeamTestPipeline() as p:
            out = p | beam.Create(_inputs()) | EmbedImages(
                "vertex", embedder_options={"api_endpoint": emu.url}, dimension=128, quota=quota,
                concurrency=8, retry="none")
            assert_that(out.embeddings | beam.Map(lambda r: r["id"]), equal_to([f"i{i}" for i in range(N)]),
                        label="all embedded")
            assert_that(out.dead_letter, is_empty(), label="no 429")
        stats = emu.stats()
    assert stats["429"] == 0 and stats["2xx"] == N


@pytest.mark.slow
def test_control_twice_the_share_overruns_the_same_quota():
    too_much = WorkerQuota(quota_rpm=PROJECT_QUOTA_RPM, max_workers=1)
    with run_emulator(backend="hashed", quota_rpm=EMULATOR_RPM, quota_window=WINDOW_S) as emu:
        with BeamTestPipeline() as p:
            out = p | beam.Create(_inputs()) | EmbedImages(
                "vertex", embedder_options={"api_endpoint": emu.url}, dimension=128, quota=too_much,
                concurrency=8, retry="none")
            total = (out.embeddings, out.dead_letter) | beam.Flatten() | beam.combiners.Count.Globally()
            assert_that(total, equal_to([N]), label="still nothing lost")
        stats = emu.stats()
    assert stats["429"] > 0
    assert stats["2xx"] + stats["429"] == N


@pytest.mark.slow
def test_two_direct_runner_processes_share_the_quota_from_the_pipeline_options():
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    quota = WorkerQuota.from_pipeline_options(options, PROJECT_QUOTA_RPM)
    assert quota.per_process_rpm == SHARE_RPM
    # Both processes together may send the whole project quota, and no more.
    # Two buckets: at most 2 * 35 = 70 per window; the emulator admits 84. Without sharing, each
    # process would take the whole quota: 2 * (10 + 60) = 140.
    with run_emulator(backend="hashed", quota_rpm=PROJECT_QUOTA_RPM + 240, quota_window=WINDOW_S) as emu:
        with BeamTestPipeline(options=options) as p:
            out = p | beam.Create(_inputs() * 2) | EmbedImages(
                "vertex", embedder_options={"api_endpoint": emu.url}, dimension=128, quota=quota,
                concurrency=8, retry="none")
            assert_that(out.dead_letter, is_empty(), label="no 429")
            total = out.embeddings | beam.combiners.Count.Globally()
            assert_that(total, equal_to([2 * N]), label="all embedded")
        stats = emu.stats()
    assert stats["429"] == 0 and stats["2xx"] == 2 * N


@pytest.mark.slow
def test_control_two_processes_overrun_a_single_share_so_both_really_sent():
    """Without this, the test above would also pass if the DirectRunner ran everything in one
    process: here the emulator admits one process's share, and the two processes exceed it."""
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    quota = WorkerQuota.from_pipeline_options(options, PROJECT_QUOTA_RPM)
    with run_emulator(backend="hashed", quota_rpm=EMULATOR_RPM, quota_window=WINDOW_S) as emu:
        with BeamTestPipeline(options=options) as p:
            out = p | beam.Create(_inputs() * 2) | EmbedImages(
                "vertex", embedder_options={"api_endpoint": emu.url}, dimension=128, quota=quota,
                concurrency=8, retry="none")
            total = (out.embeddings, out.dead_letter) | beam.Flatten() | beam.combiners.Count.Globally()
            assert_that(total, equal_to([2 * N]), label="still nothing lost")
        stats = emu.stats()
    assert stats["429"] > 0
