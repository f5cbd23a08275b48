"""Shared fixtures for the local backend: real photos, real JPEG/PNG/MP4 bytes, and each real
model loaded once per session.

The ConSE class matrix is cached in ``$VERTEX_MM_CACHE_DIR`` (default ``~/.cache/vertex-mm``);
the first run computes it (about a minute on two cores), later runs load it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

PHOTO_NAMES = ("chelsea", "astronaut", "coffee", "rocket")


def _rgb(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]))


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    """Real photographs shipped with scikit-image: a cat, an astronaut, a coffee cup, a rocket."""
    data = pytest.importorskip("skimage.data")
    return {name: _rgb(getattr(data, name)()) for name in PHOTO_NAMES}


def encode(img: Image.Image, fmt: str = "JPEG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="session")
def jpegs(photos: dict[str, Image.Image]) -> dict[str, bytes]:
    return {name: encode(img, quality=90) for name, img in photos.items()}


@pytest.fixture(scope="session")
def corrupt_jpeg(jpegs: dict[str, bytes]) -> bytes:
    """A real JPEG cut off after a third of its bytes: the header parses, the scan does not."""
    data = jpegs["coffee"]
    return data[: len(data) // 3]


@pytest.fixture(scope="session")
def effnet() -> Any:
    from local_backend.models.registry import get_shared_model

    return get_shared_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def conse() -> Any:
    from local_backend.models.registry import get_shared_model

    return get_shared_model("default")


@pytest.fixture(scope="session")
def local_embedder(conse: Any) -> Any:
    from vertex_mm import get_embedder

    return get_embedder("local")


def make_mp4(path: Any, frames: list[Image.Image], seconds_each: float, *, fps: int = 4,
             size: tuple[int, int] = (96, 64)) -> bytes:
    """Write a real H.264 MP4 showing each image for ``seconds_each`` seconds; return its bytes."""
    av = pytest.importorskip("av")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for img in frames:
            arr = np.asarray(img.convert("RGB").resize(size))
            for _ in range(int(round(seconds_each * fps))):
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def mp4_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., bytes]:
    counter = iter(range(1_000_000))

    def factory(frames: list[Image.Image], seconds_each: float, **kw: Any) -> bytes:
        return make_mp4(tmp_path_factory.mktemp("video") / f"v{next(counter)}.mp4", frames, seconds_each, **kw)

    return factory
