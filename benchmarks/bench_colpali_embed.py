"""Embedding speed of the native ColPali families: pages/s and queries/s, without real weights.

For each family (ColPali, ColQwen2, ColModernVBert) and each size, through
``local_backend.models.colpali.ColPaliFamilyEmbedder`` (the path users run):

* ``tiny``: the test suite's tiny random checkpoint (``tests/support/tiny_colpali_checkpoints.py``),
  saved and loaded with ``from_pretrained``: the overhead of the path (processor, padding,
  unpadding), not model compute.
* ``real``: the published architecture with random weights, built in memory:
  ColPali v1.3 = PaliGemma-3B-448 (SigLIP-So400m 27 layers + Gemma-2B 18 layers, 2.92B params,
  1024 patches at 448 px); ColQwen2 v1.0 = Qwen2-VL-2B (ViT 32 layers + Qwen2 28 layers, 2.21B
  params, visual tokens capped at 768 as colpali-engine does); ColModernVBert = SigLIP2-base-512
  (12 layers) + ModernBERT-150M (22 layers), 245M params, Idefics3 splitting into up to 16 crops of
  512 px + a global view. Pages are synthetic A4 pages at 150 dpi (1240 x 1754 px, lines of
  black text), queries are ordinary English questions; the tokenizer is the tiny one, so a query
  has more tokens than with the real vocabulary (the token counts are printed). If a model does not
  fit in the memory available (MemAvailable, with a margin), its language model gets fewer layers
  and the output says so.

Each model runs in float32, then the same weights cast to bfloat16 (vectors always come back as
float32), on the CPU and, when ``torch.cuda.is_available()``, on the GPU. Each timing keeps the
fastest of ``--rounds`` passes (``--real-rounds`` at real size, default 1: a page takes about a
minute on two cores) and reports the cores other processes kept busy meanwhile
(``benchmarks/_machine.py``): a number measured beside a busy neighbour is a floor.

Run:  python benchmarks/bench_colpali_embed.py [--families colpali,colqwen2,colmodernvbert]
      [--sizes tiny,real] [--real-pages 1] [--real-rounds 1] [--queries 8] [--rounds 3]
Last line: ``RESULT <family>_<size>_<dtype>_<device>_pages_s=… …_queries_s=… …``.
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))  # the tiny checkpoint builders and real-size configs
from _machine import Timing, machine_line, timed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

QUERIES = [
    "what was the total revenue by quarter in 2023",
    "which table lists the side effects of the drug",
    "how many employees did the company have at the end of the year",
    "show the diagram of the cooling system",
    "what is the warranty period for the product",
    "energy consumption per country in the chart",
    "who signed the agreement and on what date",
    "steps to reset the device to factory settings",
]

MEMORY_MARGIN = 1.3  # activations, the bf16 copy made parameter by parameter, allocator slack


@dataclass
class Row:
    family: str
    size: str
    dtype: str
    device: str
    pages_s: float
    queries_s: float
    page_tokens: float
    query_tokens: float
    pages: Timing
    queries: Timing
    note: str = ""


def document_pages(n: int) -> list[Any]:
    """Synthetic A4 pages at 150 dpi: a title and lines of text (the PIL default font, scaled)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=22)
    pages = []
    for i in range(n):
        page = Image.new("RGB", (1240, 1754), "white")
        draw = ImageDraw.Draw(page)
        draw.text((120, 120), f"Annual report {2020 + i}: results by quarter", fill="black", font=ImageFont.load_default(size=40))
        for row in range(40):
            line = " ".join(QUERIES[(row + i + k) % len(QUERIES)] for k in range(2))
            draw.text((120, 220 + 34 * row), line, fill="black", font=font)
        pages.append(page)
    return pages


def mem_available() -> float:
    """Bytes the kernel says a new allocation can get (MemAvailable), or infinity if unknown."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def build_real(family: str) -> tuple[Any, Any, str]:
    """The real-size architecture, random float32 weights; fewer LM layers only if memory is short."""
    import tiny_colpali_checkpoints as tiny
    import torch

    proc = tiny.processor(family, real_size=True)
    config = tiny.config(family, proc, real_size=True)
    with torch.device("meta"):
        params = sum(p.numel() for p in tiny.model_class(family)(config).parameters())
    need, have = params * 4 * MEMORY_MARGIN, mem_available()
    note = ""
    if need > have:
        full = int(config.vlm_config.text_config.num_hidden_layers)
        layers = max(1, int(full * have / need))
        config = tiny.config(family, proc, real_size=True, text_layers=layers)
        note = (f"REDUCED: language model {layers} of {full} layers "
                f"({need / 2**30:.1f} GiB needed, {have / 2**30:.1f} GiB available)")
    torch.manual_seed(0)
    with timed() as t:
        model = tiny.model_class(family)(config).eval()
    count = sum(p.numel() for p in model.parameters())
    print(f"  built {family} real-size: {count / 1e6:,.1f} M params, float32 {count * 4 / 2**30:.2f} GiB, "
          f"init {t.wall:.0f} s (others {t.other_cores:.2f} cores) {note}", flush=True)
    return model, proc, note


def build_tiny(family: str, folder: pathlib.Path) -> tuple[Any, Any]:
    import tiny_colpali_checkpoints as tiny

    from local_backend.models.colpali import ColPaliFamilyEmbedder

    tiny.build(family, folder / family)
    with timed() as t:
        emb = ColPaliFamilyEmbedder.from_pretrained(folder / family, device="cpu", dtype="float32")
    print(f"  loaded tiny {family} with from_pretrained in {t.wall * 1e3:.0f} ms", flush=True)
    return emb.model, emb.processor


def measure(emb: Any, pages: Sequence[Any], queries: Sequence[str], rounds: int) -> tuple[Timing, Timing, list[Any], list[Any]]:
    """Fastest of ``rounds`` passes over the pages and over the queries, after one warm-up query."""
    emb.embed_queries(queries[:1])
    best_p = best_q = None
    for _ in range(rounds):
        with timed() as tp:
            page_vecs = emb.embed_pages(pages)
        with timed() as tq:
            query_vecs = emb.embed_queries(queries)
        best_p = tp if best_p is None or tp.wall < best_p.wall else best_p
        best_q = tq if best_q is None or tq.wall < best_q.wall else best_q
    assert best_p is not None and best_q is not None
    return best_p, best_q, page_vecs, query_vecs


def run_family(family: str, size: str, args: argparse.Namespace, devices: list[str], tmp: pathlib.Path) -> list[Row]:
    import torch

    from local_backend.models.colpali import ColPaliFamilyEmbedder
    from vertex_mm.late_interaction import maxsim

    if size == "real":
        model, proc, note = build_real(family)
        pages, rounds, batch = document_pages(args.real_pages), args.real_rounds, args.real_batch
    else:
        model, proc = build_tiny(family, tmp)
        note, rounds, batch = "", args.rounds, 4
        import tiny_colpali_checkpoints as tiny

        pages = (tiny.make_pages() * 4)[: args.tiny_pages]
    queries = (QUERIES * 4)[: args.queries]
    rows: list[Row] = []
    reference: dict[str, tuple[list[Any], list[Any]]] = {}
    for device in devices:
        for dtype in ("float32", "bfloat16"):
            model.to(device=device, dtype=getattr(torch, dtype))
            emb = ColPaliFamilyEmbedder(model, proc, family=family, batch_size=batch)
            tp, tq, page_vecs, query_vecs = measure(emb, pages, queries, rounds)
            row = Row(family, size, dtype, device, len(pages) / tp.wall, len(queries) / tq.wall,
                      float(np.mean([len(v) for v in page_vecs])), float(np.mean([len(v) for v in query_vecs])), tp, tq, note)
            rows.append(row)
            print(f"  {family:15s} {size:4s} {dtype:8s} {device:4s}: {row.pages_s:8.3f} pages/s "
                  f"({len(pages)} pages, {row.page_tokens:.0f} vectors/page, others {tp.other_cores:.2f} cores) | "
                  f"{row.queries_s:8.2f} queries/s ({len(queries)} queries, {row.query_tokens:.1f} vectors/query, "
                  f"others {tq.other_cores:.2f} cores)", flush=True)
            scores = maxsim(query_vecs, page_vecs)
            if dtype == "float32":
                reference[device] = (page_vecs, scores)
            else:
                ref_pages, ref_scores = reference[device]
                diff = max(float(np.abs(a - b).max()) for a, b in zip(page_vecs, ref_pages))
                rel = float(np.abs(scores - ref_scores).max() / np.abs(ref_scores).max())
                print(f"    bf16 vs float32 (same weights): max |vector diff| {diff:.4f}, "
                      f"max MaxSim diff {rel * 100:.2f}% of the top score", flush=True)
    del model
    gc.collect()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--families", default="colpali,colqwen2,colmodernvbert")
    parser.add_argument("--sizes", default="tiny,real")
    parser.add_argument("--real-pages", type=int, default=1, help="pages per real-size timing (tens of seconds each on a CPU)")
    parser.add_argument("--real-batch", type=int, default=1, help="pages per forward pass at real size")
    parser.add_argument("--real-rounds", type=int, default=1, help="rounds for real-size timings (fastest kept)")
    parser.add_argument("--tiny-pages", type=int, default=12)
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds for tiny timings (fastest kept)")
    args = parser.parse_args(argv)

    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    print(machine_line(), flush=True)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if devices == ["cpu"]:
        print("GPU: none (torch.cuda.is_available() is False): CPU only", flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            for family in args.families.split(","):
                rows += run_family(family, size, args, devices, pathlib.Path(tmp))
    fields = []
    for r in rows:
        key = f"{r.family}_{r.size}_{'bf16' if r.dtype == 'bfloat16' else 'fp32'}_{r.device}"
        fields += [f"{key}_pages_s={r.pages_s:.4g}", f"{key}_queries_s={r.queries_s:.4g}"]
    reduced = sorted({f"{r.family}" for r in rows if r.note})
    fields.append(f"reduced_layers={','.join(reduced) or 'none'}")
    fields.append(f"max_other_cores={max(max(r.pages.other_cores, r.queries.other_cores) for r in rows):.2f}")
    print("RESULT " + " ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
