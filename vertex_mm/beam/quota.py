"""Sharing one project's per-minute quota among the workers of a Beam pipeline.

Vertex AI counts ``multimodalembedding`` requests per project, region and minute. A pipeline
has no central limiter, so each SDK process takes an equal share of the quota::

    per_process_rpm = quota_rpm × utilization / (max_workers × processes_per_worker)

``max_workers`` is the most workers the job can ever have (Dataflow's ``--max_num_workers``,
not the starting ``--num_workers``; with autoscaling, sizing for the maximum is what keeps the
sum under the quota when the job scales out). ``processes_per_worker`` is the number of SDK
processes on each worker: Dataflow starts one Python SDK process per vCPU (so 4 on an
``n1-standard-4``) unless the job runs with ``--experiments=no_use_multiple_sdk_containers``;
the DirectRunner runs ``--direct_num_workers`` of them in ``--direct_running_mode=multi_processing``
and one otherwise. Within a process, the
embedder (and so its token bucket) is shared by every thread of the RunInference step, so the
share is exact per process. ``utilization`` (default 1.0) leaves headroom for other clients of
the same quota; each retry waits for a token like any request, so retries cannot overshoot.

The sum over all processes is at most ``quota_rpm × utilization`` at full scale. When fewer
workers run than the maximum, the job uses less than the quota; that is the price of having
no coordinator, and the reason to set ``--max_num_workers`` no higher than the job needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["WorkerQuota", "machine_vcpus"]


@dataclass(frozen=True)
class WorkerQuota:
    """A project quota and how many SDK processes share it. See the module docstring."""

    quota_rpm: float
    max_workers: int = 1
    processes_per_worker: int = 1
    utilization: float = 1.0

    def __post_init__(self) -> None:
        if not self.quota_rpm > 0:
            raise ValueError(f"quota_rpm must be > 0 requests per minute, got {self.quota_rpm!r}")
        for name in ("max_workers", "processes_per_worker"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0 < self.utilization <= 1:
            raise ValueError(f"utilization must be within (0, 1], got {self.utilization!r}")

    @property
    def processes(self) -> int:
        """SDK processes that share the quota at full scale."""
        return self.max_workers * self.processes_per_worker

    @property
    def per_worker_rpm(self) -> float:
        """Requests per minute one worker (all its processes together) may send."""
        return self.quota_rpm * self.utilization / self.max_workers

    @property
    def per_process_rpm(self) -> float:
        """Requests per minute one SDK process may send: the rate of its token bucket."""
        return self.per_worker_rpm / self.processes_per_worker

    def concurrency(self, latency_s: float, *, margin: float = 2.0) -> int:
        """Requests in flight one process needs to reach its share at ``latency_s`` seconds per
        request (Little's law, times ``margin`` for latency spikes and retries)."""
        if latency_s < 0 or margin < 1:
            raise ValueError("latency_s must be >= 0 and margin >= 1")
        return max(1, math.ceil(self.per_process_rpm / 60.0 * latency_s * margin))

    @classmethod
    def from_pipeline_options(
        cls, options: Any, quota_rpm: float, *, processes_per_worker: int | None = None, utilization: float = 1.0
    ) -> "WorkerQuota":
        """Read the worker count from Beam ``PipelineOptions``: ``--max_num_workers`` on Dataflow
        (an autoscaled job without it is refused: it could grow past any share), or
        ``--num_workers`` with ``--autoscaling_algorithm=NONE``; on the DirectRunner
        ``--direct_num_workers`` in ``multi_processing`` mode, else 1 (its threads share one process).

        ``processes_per_worker`` defaults to the vCPUs of ``--machine_type`` (Dataflow runs one
        SDK process per vCPU), or 1 for a batch job on the default machine type. The
        DirectRunner's workers are its processes.
        """
        from apache_beam.options.pipeline_options import DirectOptions, StandardOptions, WorkerOptions

        runner = str(options.view_as(StandardOptions).runner or "DirectRunner")
        if "Direct" in runner or "Prism" in runner:
            direct = options.view_as(DirectOptions)
            # Only multi_processing runs workers in processes of their own; in the other modes
            # they are threads of one process, which share one embedder and one bucket.
            if direct.direct_running_mode != "multi_processing":
                return cls(quota_rpm, 1, 1, utilization)
            # direct_num_workers=0 means "one per CPU".
            workers = direct.direct_num_workers if direct.direct_num_workers > 0 else _cpu_count()
            return cls(quota_rpm, workers, processes_per_worker or 1, utilization)
        worker = options.view_as(WorkerOptions)
        autoscaled = str(getattr(worker, "autoscaling_algorithm", None) or "THROUGHPUT_BASED").upper() != "NONE"
        if autoscaled and not worker.max_num_workers:
            # Sized for --num_workers, an autoscaled job grew past it and sent a multiple of the quota.
            raise ValueError("--max_num_workers is not set, so Dataflow may autoscale past --num_workers and every "
                             "worker would send a full share: set --max_num_workers (or --autoscaling_algorithm=NONE "
                             "with --num_workers) to size the quota")
        workers = (worker.max_num_workers if autoscaled else None) or worker.num_workers or 1
        if processes_per_worker is None:
            # Dataflow runs one SDK process per vCPU: each gets its own token bucket.
            processes_per_worker = machine_vcpus(getattr(worker, "machine_type", None))
            if processes_per_worker is None:
                if getattr(options.view_as(StandardOptions), "streaming", False) or getattr(worker, "machine_type", None):
                    raise ValueError("pass processes_per_worker (the workers' vCPUs: one SDK process each), or a "
                                     "--machine_type such as n2-standard-4 to read it from")
                processes_per_worker = 1  # a batch job's default machine type, n1-standard-1
        return cls(quota_rpm, int(workers), processes_per_worker, utilization)

    def __str__(self) -> str:
        return (
            # ASCII only: Beam encodes transform annotations (which include this) as ASCII.
            f"{self.quota_rpm:g} rpm * {self.utilization:g} / ({self.max_workers} workers * "
            f"{self.processes_per_worker} processes) = {self.per_process_rpm:.4g} rpm per process"
        )


def machine_vcpus(machine_type: str | None) -> int | None:
    """vCPUs of a Compute Engine machine type (``n2-standard-4``: 4, ``custom-6-23040``: 6),
    or None when the name does not say."""
    if not machine_type:
        return None
    parts = machine_type.rsplit("/", 1)[-1].split("-")
    if "custom" in parts:  # [family-]custom-CPUS-MEMORY[-ext]
        at = parts.index("custom") + 1
        return int(parts[at]) if at < len(parts) and parts[at].isdigit() else None
    return int(parts[-1]) if len(parts) >= 3 and parts[-1].isdigit() else None


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1
