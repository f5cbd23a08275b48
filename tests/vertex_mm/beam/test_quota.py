"""The per-worker share of the project quota: the documented formula, as a pure function."""

from __future__ import annotations

import pytest

from vertex_mm.beam.quota import WorkerQuota, machine_vcpus


def test_share_is_quota_times_utilization_over_all_processes():
    q = WorkerQuota(quota_rpm=600, max_workers=10, processes_per_worker=4, utilization=0.9)
    assert q.processes == 40
    assert q.per_worker_rpm == pytest.approx(600 * 0.9 / 10)
    assert q.per_process_rpm == pytest.approx(600 * 0.9 / 40)


def test_sum_over_every_process_is_the_quota():
    q = WorkerQuota(quota_rpm=1000, max_workers=7, processes_per_worker=3)
    assert q.per_process_rpm * q.processes == pytest.approx(1000)


def test_one_worker_gets_the_whole_quota():
    assert WorkerQuota(600).per_process_rpm == 600


def test_concurrency_follows_littles_law():
    q = WorkerQuota(quota_rpm=600)  # 10 requests/s
    assert q.concurrency(0.15, margin=1.0) == 2  # 1.5 in flight, rounded up
    assert q.concurrency(1.0) == 20
    assert WorkerQuota(60, max_workers=100).concurrency(0.2) == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quota_rpm": 0}, "quota_rpm must be > 0"),
        ({"quota_rpm": 600, "max_workers": 0}, "max_workers must be an int >= 1"),
        ({"quota_rpm": 600, "processes_per_worker": 1.5}, "processes_per_worker must be an int >= 1"),
        ({"quota_rpm": 600, "utilization": 1.2}, r"utilization must be within \(0, 1\]"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WorkerQuota(**kwargs)


def test_str_spells_out_the_formula_in_ascii():
    text = str(WorkerQuota(600, max_workers=4, processes_per_worker=2))
    assert text == "600 rpm * 1 / (4 workers * 2 processes) = 75 rpm per process"
    assert text.isascii()


def test_from_pipeline_options_reads_max_num_workers_on_dataflow():
    pytest.importorskip("apache_beam", reason="PipelineOptions come from apache_beam")
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(["--runner=DataflowRunner", "--num_workers=2", "--max_num_workers=25"])
    q = WorkerQuota.from_pipeline_options(options, 600, processes_per_worker=4)
    assert (q.max_workers, q.processes_per_worker, q.per_process_rpm) == (25, 4, 6.0)
    fixed = PipelineOptions(["--runner=DataflowRunner", "--num_workers=3", "--autoscaling_algorithm=NONE"])
    assert WorkerQuota.from_pipeline_options(fixed, 600).max_workers == 3


def test_an_autoscaled_dataflow_job_needs_max_num_workers_and_counts_one_process_per_vcpu():
    # Sized as 1 worker of 1 process, an autoscaled job of N workers x V vCPUs sent N*V quotas.
    pytest.importorskip("apache_beam", reason="PipelineOptions come from apache_beam")
    from apache_beam.options.pipeline_options import PipelineOptions

    for args in (["--runner=DataflowRunner"], ["--runner=DataflowRunner", "--num_workers=5"]):
        with pytest.raises(ValueError, match="--max_num_workers is not set"):
            WorkerQuota.from_pipeline_options(PipelineOptions(args), 600)
    options = PipelineOptions(["--runner=DataflowRunner", "--max_num_workers=10", "--machine_type=n2-standard-4"])
    q = WorkerQuota.from_pipeline_options(options, 600)
    assert (q.max_workers, q.processes_per_worker, q.per_process_rpm) == (10, 4, 15.0)
    streaming = PipelineOptions(["--runner=DataflowRunner", "--max_num_workers=10", "--streaming"])
    with pytest.raises(ValueError, match="pass processes_per_worker"):
        WorkerQuota.from_pipeline_options(streaming, 600)


def test_machine_types_name_their_vcpus():
    assert [machine_vcpus(m) for m in ("n1-standard-1", "n2-highmem-16", "e2-custom-6-23040", "custom-8-30720",
                                       "zones/us-central1-a/machineTypes/c3-standard-22", "e2-micro", None)] == \
        [1, 16, 6, 8, 22, None, None]


def test_from_pipeline_options_on_the_direct_runner_counts_processes_not_threads():
    pytest.importorskip("apache_beam", reason="PipelineOptions come from apache_beam")
    from apache_beam.options.pipeline_options import PipelineOptions

    threads = PipelineOptions(["--direct_num_workers=4", "--direct_running_mode=multi_threading"])
    assert WorkerQuota.from_pipeline_options(threads, 600).per_process_rpm == 600
    processes = PipelineOptions(["--direct_num_workers=4", "--direct_running_mode=multi_processing"])
    assert WorkerQuota.from_pipeline_options(processes, 600).per_process_rpm == 150
