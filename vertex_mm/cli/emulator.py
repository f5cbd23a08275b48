"""``vertex-mm emulator``: serve the Vertex AI / Gemini embedding REST API on 127.0.0.1.

    vertex-mm emulator --port 8080 --latency-ms 150 --quota-rpm 600 --fault-rate-503 0.05 --seed 1

Prints ``vertex-mm emulator listening on http://127.0.0.1:PORT`` once it answers (``--port 0``
picks a free port), then serves until Ctrl-C or SIGTERM. Point clients at that URL:
``get_embedder("vertex", api_endpoint=URL)``, ``get_embedder("gemini", base_url=URL)``, or the
Google SDKs (``vertexai.init(api_endpoint=URL, api_transport="rest", ...)``). Every flag's
default comes from ``VERTEX_MM_EMULATOR_<FLAG>`` (e.g. ``VERTEX_MM_EMULATOR_QUOTA_RPM``).
Faults can be changed while it runs: ``POST /emulator/faults`` with a JSON body;
``GET /emulator/stats`` shows the counters.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["HELP", "add_arguments", "run"]


HELP = "serve a local Vertex AI embedding emulator (for tests and offline development)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1; only local by default)")
    p.add_argument("--port", type=int, default=None, help="port (default 0: a free one, printed at start)")
    p.add_argument("--backend", choices=("auto", "local", "hashed"), default=None,
                   help="vectors from the local models, or hashed (meaningless, instant); auto: local if installed")
    p.add_argument("--latency-ms", type=float, default=None, help="added latency per prediction call")
    p.add_argument("--quota-rpm", type=int, default=None,
                   help="per-minute quota of each base model; beyond it answer 429 with Retry-After")
    p.add_argument("--quota-window", type=float, default=None,
                   help="seconds the quota is counted over (default 60; quota scales with it)")
    p.add_argument("--fault-rate-503", type=float, default=None, help="fraction of calls answered 503 UNAVAILABLE")
    p.add_argument("--fault-rate-429", type=float, default=None, help="fraction of calls answered 429 RESOURCE_EXHAUSTED")
    p.add_argument("--drop-rate", type=float, default=None, help="fraction of calls whose connection is closed unanswered")
    p.add_argument("--seed", type=int, default=None, help="seed of the random faults (a fixed sequence)")
    p.add_argument("--max-request-bytes", type=int, default=None, help="largest accepted request body (default 30 MiB)")


def run(args: argparse.Namespace) -> int:
    from .._optional import require

    require("emulator", "starlette", what="vertex-mm emulator")
    from ..emulator import EmulatorSettings, serve_forever

    return serve_forever(_settings(args, EmulatorSettings))


def _settings(args: argparse.Namespace, settings_cls: Any) -> Any:
    import dataclasses

    base = settings_cls.from_environ(
        host=args.host, port=args.port, backend=args.backend, max_request_bytes=args.max_request_bytes, preload=True
    )
    flags = {
        "latency": None if args.latency_ms is None else args.latency_ms / 1000.0,
        "quota_rpm": args.quota_rpm,
        "quota_window": args.quota_window,
        "fault_rate_503": args.fault_rate_503,
        "fault_rate_429": args.fault_rate_429,
        "drop_rate": args.drop_rate,
        "seed": args.seed,
    }
    faults = base.faults.updated({k: v for k, v in flags.items() if v is not None})
    return dataclasses.replace(base, faults=faults)
