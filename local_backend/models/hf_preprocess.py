"""A Hugging Face checkpoint's image preprocessing, rebuilt with PIL and NumPy.

``preprocessor_config.json`` says how the model saw images in training: resize (to a fixed
height x width, or the shortest edge to N keeping the aspect ratio), center crop, scale to
[0, 1], normalise by mean and std. The numbers differ per family (CLIP uses OpenAI's mean/std
and bicubic resize then crop; SigLIP squashes to a square and maps to [-1, 1]; DINOv2 resizes
to 256 and crops 224), and feeding a model the wrong ones silently degrades its vectors. So we
read them from the checkpoint, and fill what it leaves out with the defaults of the processor
class it names, exactly as ``transformers`` does.

We do not call ``transformers``' image processors: without torchvision they fall back to a
slower path with a warning, and this module is short enough to own. The operations and their
order follow transformers' PIL backend step by step, and the tests check the pixel values
against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage

from vertex_mm.errors import InputError

__all__ = ["ImagePreprocess"]

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)

# Class defaults of the image processors our families use (transformers 5.x), for the keys a
# preprocessor_config.json may omit. Keyed by the class name without its "Fast"/"Pil" suffix.
_CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "CLIPImageProcessor": dict(
        resample=3, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, size={"shortest_edge": 224},
        default_to_square=False, do_center_crop=True, crop_size={"height": 224, "width": 224},
    ),
    "BitImageProcessor": dict(
        resample=3, image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD, size={"shortest_edge": 224},
        default_to_square=False, do_center_crop=True, crop_size={"height": 224, "width": 224},
    ),
    "ViTImageProcessor": dict(
        resample=2, image_mean=HALF, image_std=HALF, size={"height": 224, "width": 224},
        default_to_square=True, do_center_crop=False,
    ),
    "SiglipImageProcessor": dict(
        resample=3, image_mean=HALF, image_std=HALF, size={"height": 224, "width": 224},
        default_to_square=False, do_center_crop=False,
    ),
}
# A resized axis longer than this many crop lengths is resized only where the crop keeps it.
_WINDOW_FACTOR = 4
_COMMON_DEFAULTS: dict[str, Any] = dict(do_resize=True, do_rescale=True, rescale_factor=1 / 255, do_normalize=True)


def _processor_class(config: Mapping[str, Any]) -> str:
    # Checkpoints saved before image processors existed name a "...FeatureExtractor".
    name = str(config.get("image_processor_type") or config.get("feature_extractor_type") or "")
    name = name.replace("FeatureExtractor", "ImageProcessor")
    for suffix in ("Fast", "Pil"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _size_dict(size: Any, default_to_square: bool, what: str) -> dict[str, int]:
    """Old configs store ``size: 224``; transformers reads an int as a square or a shortest edge."""
    if isinstance(size, Mapping):
        return {str(k): int(v) for k, v in size.items() if v is not None}
    if isinstance(size, int):
        return {"height": size, "width": size} if default_to_square else {"shortest_edge": size}
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return {"height": int(size[0]), "width": int(size[1])}
    raise InputError(f"preprocessor config: cannot read {what}={size!r}", input_name="preprocessor_config.json")


def _triple(values: Any) -> tuple[float, float, float]:
    if isinstance(values, (int, float)):
        return (float(values),) * 3
    out = tuple(float(v) for v in values)
    if len(out) != 3:
        raise InputError(f"preprocessor config: expected 3 channel values, got {values!r}", input_name="preprocessor_config.json")
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class ImagePreprocess:
    """Turns RGB PIL images into the ``(B, 3, H, W)`` float32 array a checkpoint expects."""

    do_resize: bool
    size: Mapping[str, int]
    resample: int
    do_center_crop: bool
    crop_size: Mapping[str, int]
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, family_default: str = "CLIPImageProcessor") -> "ImagePreprocess":
        """Read a ``preprocessor_config.json`` dict; missing keys take the named class's defaults
        (``family_default`` when the file names no class, or is empty)."""
        klass = _processor_class(config) or family_default
        merged = {**_COMMON_DEFAULTS, **_CLASS_DEFAULTS.get(klass, _CLASS_DEFAULTS[family_default]), **config}
        square = bool(merged.get("default_to_square", True))
        crop = merged.get("crop_size") or {"height": 224, "width": 224}
        out = cls(
            do_resize=bool(merged["do_resize"]),
            size=_size_dict(merged["size"], square, "size"),
            resample=int(merged["resample"]),
            do_center_crop=bool(merged.get("do_center_crop") or False),
            crop_size=_size_dict(crop, True, "crop_size"),
            do_rescale=bool(merged["do_rescale"]),
            rescale_factor=float(merged["rescale_factor"]),
            do_normalize=bool(merged["do_normalize"]),
            image_mean=_triple(merged["image_mean"]),
            image_std=_triple(merged["image_std"]),
        )
        _ = out.output_size  # fail now, not on the first image, if the size is not fixed
        return out

    @property
    def output_size(self) -> tuple[int, int]:
        """``(height, width)`` of every preprocessed image."""
        if self.do_center_crop:
            return self.crop_size["height"], self.crop_size["width"]
        if self.do_resize and "height" in self.size and "width" in self.size:
            return self.size["height"], self.size["width"]
        raise InputError(
            f"preprocessing gives images of varying size (size={dict(self.size)}, no center crop); "
            "a ViT needs a fixed input size",
            input_name="preprocessor_config.json",
        )

    def __call__(self, images: Sequence[PILImage.Image]) -> np.ndarray:
        if not images:
            h, w = self.output_size
            return np.zeros((0, 3, h, w), dtype=np.float32)
        return np.stack([self.one(img) for img in images])

    def one(self, image: PILImage.Image) -> np.ndarray:
        """One image to a ``(3, H, W)`` float32 array: resize, crop, rescale, normalise."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        if self.do_resize:
            image = self._resize(image)
        pixels = np.asarray(image).transpose(2, 0, 1)  # (3, H, W) uint8
        if self.do_center_crop:
            pixels = _center_crop(pixels, self.crop_size["height"], self.crop_size["width"])
        # Float64 then float32, as transformers does, so both round the same way.
        out = pixels.astype(np.float64) * self.rescale_factor if self.do_rescale else pixels.astype(np.float64)
        out = out.astype(np.float32)
        if self.do_normalize:
            mean = np.asarray(self.image_mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.image_std, dtype=np.float32)[:, None, None]
            out = (out - mean) / std
        return out.astype(np.float32, copy=False)

    def _resize(self, image: PILImage.Image) -> PILImage.Image:
        """The resize step. Where the centre crop keeps a small part of a long axis (a thin image:
        a 12000x1 rule became 2,688,000x224 pixels, gigabytes, before the crop), only the source
        span the crop keeps is resized along that axis, so the cost is bounded by the output.
        Pillow's full resize runs the horizontal pass, then the vertical one; the windowed path
        does the same on the source pixels the filters read, so the kept pixels agree with
        transformers' but for one level in a rare pixel (Pillow takes box corners as float32)."""
        to_h, to_w = self._resize_to(image.height, image.width)
        x_win = self._window(image.width, to_w, self.crop_size["width"])
        y_win = self._window(image.height, to_h, self.crop_size["height"])
        if x_win is None and y_win is None:
            return image.resize((to_w, to_h), resample=self.resample)  # transformers' own call, bit for bit
        left, top = 0, 0
        right, bottom = image.width, image.height
        if x_win is not None:
            left, right = _source_span(x_win, image.width)
        if y_win is not None:
            top, bottom = _source_span(y_win, image.height)
        image = image.crop((left, top, right, bottom))
        x0, x1, out_w = x_win or (0.0, float(image.width), to_w)
        y0, y1, out_h = y_win or (0.0, float(image.height), to_h)
        x0, x1, y0, y1 = x0 - left, x1 - left, y0 - top, y1 - top
        rows = image.height
        image = image.resize((out_w, rows), resample=self.resample, box=(x0, 0.0, x1, float(rows)))
        return image.resize((out_w, out_h), resample=self.resample, box=(0.0, y0, float(out_w), y1))

    def _window(self, source: int, resized: int, crop: int) -> tuple[float, float, int] | None:
        """``(start, end, crop)``: the source span of one axis the centre crop keeps, when the full
        resize would be much longer than the crop; else None (resize the whole axis)."""
        if not self.do_center_crop or resized <= _WINDOW_FACTOR * crop:
            return None
        start = (resized - crop) // 2  # as _center_crop
        scale = source / resized
        return start * scale, (start + crop) * scale, crop

    def _resize_to(self, height: int, width: int) -> tuple[int, int]:
        if "height" in self.size and "width" in self.size:
            return self.size["height"], self.size["width"]
        if "shortest_edge" in self.size:
            # torchvision's Resize(int): the short side becomes N, the long side is truncated.
            target = self.size["shortest_edge"]
            if width <= height:
                return int(target * height / width), target
            return target, int(target * width / height)
        raise InputError(f"preprocessor config: unsupported size {dict(self.size)}", input_name="preprocessor_config.json")


def _source_span(window: tuple[float, float, int], length: int) -> tuple[int, int]:
    """Whole source pixels a resize of ``window`` reads: its span plus the widest filter support
    (3 for Lanczos), scaled when the resize shrinks, plus one."""
    start, end, out = window
    margin = 3.0 * max((end - start) / out, 1.0) + 1.0
    return max(0, math.floor(start - margin)), min(length, math.ceil(end + margin))


def _center_crop(pixels: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    """Center crop a (C, H, W) array; pad with zeros first where the image is smaller."""
    _, h, w = pixels.shape
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    if top >= 0 and left >= 0:
        return pixels[:, top : top + crop_h, left : left + crop_w]
    new_h, new_w = max(crop_h, h), max(crop_w, w)
    padded = np.zeros((pixels.shape[0], new_h, new_w), dtype=pixels.dtype)
    top_pad, left_pad = math.ceil((new_h - h) / 2), math.ceil((new_w - w) / 2)
    padded[:, top_pad : top_pad + h, left_pad : left_pad + w] = pixels
    top, left = top + top_pad, left + left_pad
    return padded[:, max(0, top) : min(new_h, top + crop_h), max(0, left) : min(new_w, left + crop_w)]
