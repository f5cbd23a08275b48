"""Embed a folder of images with Apache Beam: every input lands in the embeddings or the dead letter.

Offline, on the DirectRunner and the local backend, over the project's sample photos (plus two
deliberately broken inputs, so the dead-letter path shows)::

    python examples/beam_embed_pipeline.py
    # RESULT embedded=17 dead_letter=2 lost=0 duplicates=0 inputs=19

The same pipeline through the Vertex client against vertex-mm's emulator (started in this
process, with a few injected 429s and 503s that the retries absorb)::

    python examples/beam_embed_pipeline.py --backend vertex --emulator

At scale, on Dataflow with Vertex AI (not runnable here: it needs a Google Cloud project)::

    python -m build --wheel     # workers install vertex-mm from this wheel
    python examples/beam_embed_pipeline.py --backend vertex \\
        --input 'gs://my-bucket/photos/*.jpg' --output gs://my-bucket/runs/2024-06-01 \\
        --quota-rpm 600 --processes-per-worker 4 \\
        --runner DataflowRunner --project my-proj --region us-central1 \\
        --temp_location gs://my-bucket/tmp --max_num_workers 20 --machine_type n1-standard-4 \\
        --extra_packages dist/vertex_mm-0.1.0-py3-none-any.whl \\
        --requirements_file requirements-dataflow.txt    # e.g. one line: apache-beam[gcp]

Each SDK process then sends at most ``quota_rpm / (max_num_workers * processes_per_worker)``
requests per minute (see ``vertex_mm.beam.quota``): 600 / (20 * 4) = 7.5 here, so the whole
job stays under the project's quota even at full scale. Inputs on Dataflow must be ``gs://``
URIs (workers cannot see local files); they are sent to Vertex AI as URIs, never downloaded.

Arguments this script does not know (``--runner``, ``--project``, ...) are Beam pipeline options.
Needs ``pip install "vertex-mm[beam]"`` (and ``[local]`` for the local backend).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

DEFAULT_OUTPUT = "out/beam_embed"


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="local", choices=["local", "vertex", "gemini"])
    parser.add_argument("--input", help="a folder, a glob (local or gs://), or a .txt file of URIs/paths, one a line "
                                        "(default: the sample photos)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="folder or gs:// prefix for the output files")
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"], help="embeddings file format")
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--quota-rpm", type=float, default=600.0, help="the project's requests-per-minute quota")
    parser.add_argument("--processes-per-worker", type=int, default=None,
                        help="SDK processes per worker (default: the vCPUs of --machine_type)")
    parser.add_argument("--no-broken", action="store_true", help="do not add the two demo broken inputs")
    emulator = parser.add_argument_group("emulator (with --backend vertex)")
    emulator.add_argument("--emulator", action="store_true", help="start vertex-mm's emulator in this process")
    emulator.add_argument("--emulator-latency", type=float, default=0.05, help="seconds per request")
    emulator.add_argument("--fault-rate", type=float, default=0.05, help="share of requests answered 429, and 503")
    return parser.parse_known_args(argv)


def list_inputs(pattern: str | None) -> list[str]:
    """The image paths or URIs to embed, expanded here so that the count of inputs is known."""
    from apache_beam.io.filesystems import FileSystems

    if pattern is None:
        from vertex_mm.sample_data import sample_photos

        return [str(p) for p in sample_photos()]
    if pattern.endswith(".txt"):
        with FileSystems.open(pattern) as f:
            return [line.strip() for line in f.read().decode("utf-8").splitlines() if line.strip()]
    if "*" not in pattern and "?" not in pattern:
        pattern = pattern.rstrip("/") + "/*"
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def broken_inputs() -> list[dict[str, Any]]:
    """Two inputs that must end in the dead letter: a cut-off JPEG and a text file."""
    from vertex_mm.sample_data import sample_photos

    photo = sample_photos()[0].read_bytes()
    return [
        {"id": "broken/truncated.jpg", "bytes": photo[: len(photo) // 3], "metadata": {"demo": "broken"}},
        {"id": "broken/notes.txt", "bytes": b"these are notes, not an image", "metadata": {"demo": "broken"}},
    ]


@contextlib.contextmanager
def maybe_emulator(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Embedder options: the emulator's endpoint with --emulator, else Google Cloud's."""
    if not args.emulator:
        yield {}
        return
    if args.backend != "vertex":
        raise SystemExit("--emulator serves the Vertex API: use it with --backend vertex")
    from vertex_mm.emulator import run_emulator

    with run_emulator(latency=args.emulator_latency, fault_rate_429=args.fault_rate, fault_rate_503=args.fault_rate,
                      retry_after=0.1, seed=0) as emu:
        print(f"emulator on {emu.url} (latency {args.emulator_latency:g} s, {args.fault_rate:.0%} 429s and 503s)")
        yield {"api_endpoint": emu.url}


def build_pipeline(p: Any, inputs: list[Any], args: argparse.Namespace, embedder_options: dict[str, Any],
                   quota: Any) -> None:
    import apache_beam as beam

    from vertex_mm.beam import EmbedImages, WriteJsonl, WriteParquet

    out = p | "Inputs" >> beam.Create(inputs, reshuffle=False) | "Embed" >> EmbedImages(
        args.backend, embedder_options=embedder_options, dimension=args.dimension,
        quota=quota if args.backend != "local" else None)
    prefix = args.output.rstrip("/")
    if args.format == "parquet":
        out.embeddings | "WriteEmbeddings" >> WriteParquet(f"{prefix}/embeddings")
    else:
        out.embeddings | "WriteEmbeddings" >> WriteJsonl(f"{prefix}/embeddings")
    out.dead_letter | "WriteDeadLetter" >> WriteJsonl(f"{prefix}/dead_letter")


def clear_outputs(output: str) -> None:
    """Delete the files of an earlier run, so that the read-back counts only this run's rows."""
    from apache_beam.io.filesystems import FileSystems

    for name in ("embeddings", "dead_letter"):
        old = [m.path for m in FileSystems.match([f"{output}/{name}-*"])[0].metadata_list]
        if old:
            FileSystems.delete(old)


def read_ids(prefix: str, fmt: str) -> list[str]:
    """Ids of the rows written under ``prefix`` (local or gs://), read back from the files."""
    from apache_beam.io.filesystems import FileSystems

    suffix = ".parquet" if fmt == "parquet" else ".jsonl"
    files = [m.path for m in FileSystems.match([f"{prefix}-*{suffix}"])[0].metadata_list]
    ids: list[str] = []
    for path in files:
        with FileSystems.open(path) as f:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                ids += pq.read_table(f, columns=["id"]).column("id").to_pylist()
            else:
                ids += [json.loads(line)["id"] for line in f.read().decode("utf-8").splitlines() if line]
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    try:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions
    except ImportError:
        print('this example needs Apache Beam: pip install "vertex-mm[beam]"; or run it with the test venv\'s '
              "python: $(python tests/vertex_mm/beam/vmm_beam_venv.py) examples/beam_embed_pipeline.py", file=sys.stderr)
        return 2
    from vertex_mm.beam import WorkerQuota

    options = PipelineOptions(beam_args, save_main_session=False)
    gcp = options.view_as(GoogleCloudOptions)
    paths = list_inputs(args.input)
    inputs: list[Any] = list(paths) + ([] if args.no_broken else broken_inputs())
    expected_ids = [i if isinstance(i, str) else i["id"] for i in inputs]
    quota = WorkerQuota.from_pipeline_options(options, args.quota_rpm, processes_per_worker=args.processes_per_worker)
    print(f"{len(inputs)} inputs, backend {args.backend}, output {args.output}")
    if args.backend != "local":
        print(f"rate limit: {quota}")

    clear_outputs(args.output.rstrip("/"))
    with maybe_emulator(args) as embedder_options:
        if args.backend in ("vertex", "gemini") and not args.emulator:
            embedder_options.update({k: v for k, v in {"project": gcp.project, "location": gcp.region}.items() if v})
        p = beam.Pipeline(options=options)
        build_pipeline(p, inputs, args, embedder_options, quota)
        p.run().wait_until_finish()

    embedded = read_ids(f"{args.output.rstrip('/')}/embeddings", args.format)
    dead = read_ids(f"{args.output.rstrip('/')}/dead_letter", "jsonl")
    seen = embedded + dead
    lost = len(set(expected_ids) - set(seen))
    duplicates = len(seen) - len(set(seen))
    print(f"embeddings:  {args.output.rstrip('/')}/embeddings-*.{args.format}")
    print(f"dead letter: {args.output.rstrip('/')}/dead_letter-*.jsonl")
    print(f"RESULT embedded={len(embedded)} dead_letter={len(dead)} lost={lost} duplicates={duplicates} inputs={len(inputs)}")
    return 0 if lost == 0 and duplicates == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
