"""GPU against CPU in one run: local-backend images/s and MaxSim pages/s per query.

    python benchmarks/bench_gpu.py                 # on a machine with a CUDA GPU
    python benchmarks/bench_gpu.py --device cpu --images 16 --pages 64   # check the script itself

Without a GPU it prints ``no GPU`` and exits 0: there is nothing to compare. ``--device auto``
picks CUDA when torch sees it. Exits 1 when the device's MaxSim scores differ from the CPU's by
more than ``--max-score-diff``.

Measured, each on the CPU and on ``--device`` (default ``cuda``), best of ``--repeats``:

* ``local_e2e``: ``get_embedder("local").embed_images(jpeg_bytes)``, the default ConSE model
  (EfficientNet-Lite0 + MiniLM), JPEG decode and resize on CPU threads included;
* ``local_forward``: the same model from prepared 224 x 224 uint8 pixels (decode excluded: what
  the device itself does);
* ``maxsim``: :func:`vertex_mm.late_interaction.maxsim` of ``--queries`` queries against
  ``--pages`` synthetic float16 pages of ``--tokens`` x ``--dim`` (ColPali-sized), float32
  products; pages/s/query = pages x queries / seconds. On the GPU twice: pages in host memory,
  copied for each call (``maxsim(..., device=...)``), and pages copied once beforehand
  (``to_device``: ``resident``). The GPU scores are checked against the CPU's.

Last line: ``RESULT gpu=… local_e2e_img_s_cpu=… local_e2e_img_s_gpu=… local_forward_img_s_cpu=…
local_forward_img_s_gpu=… maxsim_pages_s_q_cpu=… maxsim_pages_s_q_gpu=… maxsim_pages_s_q_gpu_resident=…
maxsim_max_abs_diff=…``
(``_gpu`` is ``--device``'s figure).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _machine import machine_line  # benchmarks/ is on sys.path when run as a script
from _options import benchmark_parser


def best_seconds(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    fn()  # warm-up: kernels, allocator, thread pools
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def jpeg_batch(n: int) -> list[bytes]:
    from vertex_mm.sample_data import sample_photos

    photos = [p.read_bytes() for p in sample_photos()]
    return [photos[i % len(photos)] for i in range(n)]


def bench_local(device: str, images: list[bytes], batch_size: int, repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    from vertex_mm import get_embedder

    emb = get_embedder("local", device=device, batch_size=batch_size)
    model: Any = emb.local_model
    pixels = np.stack([model.prepare_image(img) for img in _decoded(images[:batch_size])])
    e2e = best_seconds(lambda: emb.embed_images(images, dimension=512), repeats, sync)
    fwd = best_seconds(lambda: model.encode_prepared(pixels), repeats, sync)
    return {"e2e": len(images) / e2e, "forward": len(pixels) / fwd}


def _decoded(images: list[bytes]) -> list[Any]:
    import io

    from PIL import Image

    return [Image.open(io.BytesIO(b)).convert("RGB") for b in images]


def bench_maxsim(device: Any, queries: list[np.ndarray], packed: Any, repeats: int,
                 sync: Callable[[], None]) -> tuple[float, np.ndarray]:
    from vertex_mm.late_interaction import maxsim

    scores = maxsim(queries, packed, device=device)
    seconds = best_seconds(lambda: maxsim(queries, packed, device=device), repeats, sync)
    return len(packed) * len(queries) / seconds, scores


def target_device(device: str) -> str | None:
    """What ``--device`` compares with the CPU, as torch names it (``"cuda"``, ``"cuda:1"``,
    ``"cpu"``), or None when it asks for a GPU and torch sees none. ``"auto"`` is resolved by the
    library's own rule (:func:`vertex_mm._device.resolve_device`): passed on as ``"auto"``, it
    reached ``torch.device("auto")``, which raises."""
    import torch

    from vertex_mm._device import check_device, resolve_device

    name = check_device(device)
    if name != "cpu" and not torch.cuda.is_available():
        return None
    return str(resolve_device(name))


def main(argv: list[str] | None = None) -> int:
    ap = benchmark_parser(__doc__, images=512, batch_size=64, pages=4000, tokens=1030, dim=128, queries=16, query_tokens=20,
                          repeats=3, seed=0)
    ap.add_argument("--device", default="cuda", help="what to compare with the CPU (default cuda)")
    ap.add_argument("--max-score-diff", type=float, default=1e-3,
                    help="exit 1 when the device's MaxSim scores differ from the CPU's by more (both float32 products)")
    args = ap.parse_args(argv)
    print(machine_line(), flush=True)

    try:
        import torch
    except ImportError:
        print('no GPU: torch is not installed (pip install "vertex-mm[local]"); nothing to compare')
        return 0
    target = target_device(args.device)
    if target is None:
        print(f"no GPU: torch {torch.__version__} (CUDA build {torch.version.cuda or 'none'}) sees no CUDA device; "
              "nothing to compare")
        return 0
    gpu_name = torch.cuda.get_device_name(torch.device(target)) if target != "cpu" else "none"
    print(f"comparing cpu with {target} ({gpu_name}); torch {torch.__version__}, {torch.get_num_threads()} CPU threads",
          flush=True)

    def sync() -> None:
        if target != "cpu":
            torch.cuda.synchronize()

    images = jpeg_batch(args.images)
    local = {dev: bench_local(dev, images, args.batch_size, args.repeats, sync) for dev in ("cpu", target)}
    for dev, r in local.items():
        print(f"local {dev:>6}: end to end {r['e2e']:8.1f} img/s   forward (prepared pixels) {r['forward']:8.1f} img/s",
              flush=True)

    from vertex_mm.late_interaction import PackedPages

    rng = np.random.default_rng(args.seed)
    pages = rng.standard_normal((args.pages, args.tokens, args.dim), dtype=np.float32)
    pages /= np.linalg.norm(pages, axis=-1, keepdims=True)
    packed = PackedPages.from_padded(pages.astype(np.float16))
    del pages
    queries = [q / np.linalg.norm(q, axis=-1, keepdims=True)
               for q in rng.standard_normal((args.queries, args.query_tokens, args.dim), dtype=np.float32)]
    gb = packed.tokens.nbytes / 1e9
    print(f"maxsim: {args.pages} pages x {args.tokens} tokens x {args.dim} float16 ({gb:.2f} GB), "
          f"{args.queries} queries x {args.query_tokens} tokens", flush=True)
    rate_cpu, s_cpu = bench_maxsim("cpu", queries, packed, args.repeats, sync)
    rate_dev, s_dev = bench_maxsim(target, queries, packed, args.repeats, sync)
    from vertex_mm.late_interaction import to_device

    held = to_device(packed, target)
    rate_held, s_held = bench_maxsim(target, queries, held, args.repeats, sync)
    del held
    diff = max(float(np.abs(s_cpu - s_dev).max()), float(np.abs(s_cpu - s_held).max()))
    same_top = float(np.mean(np.argmax(s_cpu, 1) == np.argmax(s_dev, 1)))
    for dev, rate in (("cpu", rate_cpu), (target, rate_dev), (f"{target} resident", rate_held)):
        # One pass over the pages scores every query: the collection is read rate/queries times a second.
        print(f"maxsim {dev:>15}: {rate:12.0f} pages/s/query ({gb * rate / (args.pages * args.queries):.1f} GB/s of pages read)")
    print(f"maxsim {target} vs cpu: max |score difference| {diff:.2e}, same best page for {100 * same_top:.0f}% of queries")
    print(f"speedup over the CPU: local end to end x{local[target]['e2e'] / local['cpu']['e2e']:.2f}, "
          f"local forward x{local[target]['forward'] / local['cpu']['forward']:.2f}, maxsim x{rate_dev / rate_cpu:.2f} "
          f"(resident x{rate_held / rate_cpu:.2f})")
    print(f"RESULT gpu={gpu_name.replace(' ', '_')} local_e2e_img_s_cpu={local['cpu']['e2e']:.1f} "
          f"local_e2e_img_s_gpu={local[target]['e2e']:.1f} local_forward_img_s_cpu={local['cpu']['forward']:.1f} "
          f"local_forward_img_s_gpu={local[target]['forward']:.1f} maxsim_pages_s_q_cpu={rate_cpu:.0f} "
          f"maxsim_pages_s_q_gpu={rate_dev:.0f} maxsim_pages_s_q_gpu_resident={rate_held:.0f} maxsim_max_abs_diff={diff:.2e} "
          f"device={target}")
    if not diff <= args.max_score_diff:
        print(f"FAILED: {target}'s MaxSim scores differ from the CPU's by {diff:.2e} > {args.max_score_diff:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
