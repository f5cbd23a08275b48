"""Thin images (a 1-px rule, a sprite strip) through the shortest-edge-then-crop preprocessing of
CLIP and DINOv2: the crop is the one transformers gives, at a cost bounded by the output. The
whole image was resized first: a 12000x1 PNG took 21 s and 5.8 GiB, a wider one an OOM kill."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
from PIL import Image  # noqa: E402

from local_backend.models.hf_preprocess import OPENAI_CLIP_MEAN, ImagePreprocess  # noqa: E402

OPENAI_CLIP = {"crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
               "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": list(OPENAI_CLIP_MEAN),
               "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}
DINOV2 = {"crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_normalize": True, "do_rescale": True,
          "do_resize": True, "image_mean": [0.485, 0.456, 0.406], "image_processor_type": "BitImageProcessor",
          "image_std": [0.229, 0.224, 0.225], "resample": 3, "rescale_factor": 1 / 255, "size": {"shortest_edge": 256}}
SMALL_EDGE = {**OPENAI_CLIP, "size": 200}  # shorter than the crop: the short axis is padded
CASES = [(OPENAI_CLIP, "CLIPImageProcessorPil"), (DINOV2, "BitImageProcessorPil"), (SMALL_EDGE, "CLIPImageProcessorPil")]


@pytest.mark.parametrize("config,reference", CASES, ids=["openai-clip", "dinov2", "edge-below-crop"])
@pytest.mark.parametrize("size", [(600, 20), (1200, 6), (13, 1001), (5, 1100)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_thin_images_give_the_crop_transformers_gives(config: dict[str, Any], reference: str, size: tuple[int, int]) -> None:
    pixels = np.random.RandomState(sum(size)).randint(0, 256, (size[1], size[0], 3), np.uint8)
    image = Image.fromarray(pixels)
    ours = ImagePreprocess.from_config(config)([image])
    theirs = getattr(transformers, reference)(**config)(image, return_tensors="np")["pixel_values"]
    assert ours.shape == theirs.shape == (1, 3, 224, 224)
    # At most one 8-bit level in a rare pixel (Pillow rounds box corners to float32).
    level = 1 / 255 / min(config["image_std"]) + 1e-5
    diff = np.abs(ours - theirs)
    assert diff.max() <= level and (diff > 1e-5).mean() < 0.001


def test_a_very_thin_image_costs_no_more_than_its_crop() -> None:
    # Under a 1.5 GiB address-space cap, in a child process: the whole-image resize needs
    # 40000 * 224 x 224 pixels (8 GiB) and failed with MemoryError; the crop needs 200 KB.
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
        from PIL import Image
        from local_backend.models.hf_preprocess import ImagePreprocess
        pre = ImagePreprocess.from_config({OPENAI_CLIP!r})
        for size in ((40000, 1), (1, 40000)):
            out = pre([Image.new("RGB", size, (120, 130, 140))])
            print(out.shape, round(float(out.std(axis=(2, 3)).max()), 3))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["(1, 3, 224, 224) 0.0", "(1, 3, 224, 224) 0.0"]  # a plain crop
