"""Image decoding and resizing for the local models, fused and parallel.

Decoding dominates end-to-end time for a small CNN, so three things matter:

* JPEG draft mode: libjpeg decodes straight to 1/2, 1/4 or 1/8 scale (DCT-domain), so a
  4000 px photo headed for 224 px never materialises at full size.
* Crop and resize in one ``Image.resize(box=...)`` call with ``reducing_gap`` (a cheap box
  reduction first, then the bicubic filter on a small image).
* Threads: Pillow releases the GIL while decoding and resizing, so a thread pool scales.

Every failure becomes :class:`vertex_mm.errors.InvalidImageError` naming the input. No torch here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from PIL import Image as PILImage

from vertex_mm.errors import InvalidImageError, InvalidURIError, VertexMMError
from vertex_mm.limits import MULTIMODAL_EMBEDDING_001
from vertex_mm.limits import decode_image as limits_decode_image
from vertex_mm.pixels import upright_rgb

__all__ = [
    "decode_image",
    "default_workers",
    "draft_size_for",
    "map_all_or_raise",
    "map_ordered",
    "prepare_rgb",
]

T = TypeVar("T")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None


def default_workers() -> int:
    """Decode threads: ``VERTEX_MM_DECODE_WORKERS`` or the CPU count."""
    env = os.environ.get("VERTEX_MM_DECODE_WORKERS")
    return max(1, int(env)) if env else max(1, os.cpu_count() or 1)


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=default_workers(), thread_name_prefix="vertex-mm-decode")
    return _pool


def map_ordered(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None) -> list[R | VertexMMError]:
    """``fn`` over ``items`` in threads, in order; a :class:`VertexMMError` is returned in place
    of its item's result instead of stopping the others."""

    def guarded(x: T) -> R | VertexMMError:
        try:
            return fn(x)
        except VertexMMError as exc:
            return exc

    if len(items) <= 1 or workers == 1:
        return [guarded(x) for x in items]
    if workers is None:
        return list(_shared_pool().map(guarded, items))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(guarded, items))


def map_all_or_raise(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """:func:`map_ordered`, raising the first input's typed error (for callers that embed a
    batch whole and isolate failures above, item by item)."""
    done = map_ordered(fn, items)
    for result in done:
        if isinstance(result, VertexMMError):
            raise result
    return done  # type: ignore[return-value]


def decode_image(data: bytes, name: str = "image", *, draft_size: int | None = None) -> PILImage.Image:
    """Decode bytes into an upright RGB image. With ``draft_size``, a JPEG is decoded at the
    smallest DCT scale whose sides stay at least ``draft_size`` (both sides), which is several
    times faster for large photos and loses nothing once the model resizes to ``draft_size``.
    Limits and typed errors come from :func:`vertex_mm.limits.decode_image`."""
    img = limits_decode_image(data, MULTIMODAL_EMBEDDING_001, name=name, draft_size=draft_size)
    try:
        return upright_rgb(img)  # EXIF orientation, 16-bit scaled, transparency on white
    except Exception as exc:  # a corrupt EXIF block or palette
        raise InvalidImageError(f"{name}: image cannot be decoded: {exc}", input_name=name) from exc


def prepare_rgb(img: PILImage.Image, size: int, *, crop_pct: float = 1.0) -> np.ndarray:
    """Centre-crop ``crop_pct`` of the shorter side and resize to ``size`` x ``size`` (bicubic),
    in one Pillow call. Returns ``(size, size, 3)`` uint8."""
    if img.mode != "RGB":
        img = upright_rgb(img)
    w, h = img.size
    side = min(w, h) * crop_pct
    if crop_pct >= 1.0 and w != h:
        box = (0.0, 0.0, float(w), float(h))  # crop_pct 1 means squash the whole frame
    else:
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    out = img.resize((size, size), PILImage.Resampling.BICUBIC, box=box, reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8)


def draft_size_for(size: int, crop_pct: float) -> int:
    """The draft size that keeps enough pixels for a ``crop_pct`` crop resized to ``size``."""
    return int(math.ceil(size / max(crop_pct, 1e-3)))


def no_gcs(uri: str | None, what: str) -> InvalidURIError:
    """The error for a ``gs://`` input: the local backend reads local bytes only."""
    return InvalidURIError(
        f"{uri}: the local backend reads local bytes only and cannot fetch Cloud Storage {what}s; "
        f"download it first (gcloud storage cp) and pass the file, or use get_embedder('vertex')",
        input_name=uri,
    )
