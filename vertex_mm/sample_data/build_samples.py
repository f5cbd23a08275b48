"""Rebuild the shipped sample photos from the real photographs that scikit-image and
scikit-learn carry inside their wheels (no download).

    python -m vertex_mm.sample_data.build_samples          # needs: pip install scikit-image scikit-learn

Each photo is scaled to at most 640 px on its long side and saved as an RGB JPEG (quality 85,
no metadata), so the output is byte-for-byte reproducible for a given Pillow version. Sources and
licences are listed in ``SOURCES.md`` next to this file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
MAX_SIDE = 640
QUALITY = 85


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(getattr(data, name)())

    return load


def _motorcycle(view: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(data.stereo_motorcycle()[view])  # type: ignore[no-untyped-call]

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name))

    return load


def _crop(load: Callable[[], np.ndarray], top: int, bottom: int, left: int, right: int) -> Callable[[], np.ndarray]:
    return lambda: load()[top:bottom, left:right]


# file name -> where the pixels come from. Names say what is in the picture.
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "cat.jpg": _skimage("chelsea"),
    "astronaut.jpg": _skimage("astronaut"),
    "coffee_cup.jpg": _skimage("coffee"),
    "rocket.jpg": _skimage("rocket"),
    "coins.jpg": _skimage("coins"),
    "cameraman.jpg": _skimage("camera"),
    "motorcycle.jpg": _motorcycle(0),
    "chinese_temple.jpg": _sklearn("china.jpg"),
    "flower.jpg": _sklearn("flower.jpg"),
    "galaxies.jpg": _skimage("hubble_deep_field"),
    "blurred_clock.jpg": _skimage("clock"),
    "moon_surface.jpg": _skimage("moon"),
    "retina.jpg": _skimage("retina"),
    "brick_wall.jpg": _skimage("brick"),
    "grass.jpg": _skimage("grass"),
    "gravel.jpg": _skimage("gravel"),
    "stained_tissue.jpg": _skimage("immunohistochemistry"),
}

# Image queries: photos that are not in the indexed folder but show the same subject.
QUERY_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "motorcycle_other_view.jpg": _motorcycle(1),  # the stereo pair's right camera
    "cat_face_crop.jpg": _crop(_skimage("chelsea"), 0, 300, 60, 360),
}


def to_jpeg(pixels: np.ndarray, path: Path) -> None:
    img = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    img.save(path, format="JPEG", quality=QUALITY, optimize=True)


def build(out: Path = HERE) -> list[Path]:
    written = []
    for folder, table in (("photos", PHOTOS), ("query_images", QUERY_IMAGES)):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, load in table.items():
            path = out / folder / name
            to_jpeg(load(), path)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write photos/ and query_images/ into")
    args = parser.parse_args()
    paths = build(args.out)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} JPEGs, {total / 1024:.0f} KiB, under {args.out}")


if __name__ == "__main__":
    main()
