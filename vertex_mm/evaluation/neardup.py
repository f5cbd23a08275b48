"""Near-duplicates of photos, for testing image -> image retrieval: edited copies and a manifest.

Each photo gets one copy per edit, the kinds of change a photo goes through when it is
re-shared, and one copy with all of them at once:

==========  ==========================================================================
crop        keep a random window of 80-90 % of the width and of the height
resize      scale down to 40-70 % of the size (bicubic)
jpeg40      re-encode as JPEG at quality 40
hflip       mirror left to right
jitter      brightness, contrast and saturation each scaled by a factor in 0.9-1.1
combined    crop, hflip, jitter and resize, then saved at quality 40
==========  ==========================================================================

>>> manifest = make_near_duplicates(find_images("photos"), "neardup", root="photos")   # doctest: +SKIP

writes ``neardup/<photo>__<edit>.jpg`` and ``neardup/manifest.jsonl`` with lines
``{"query": "cat__crop.jpg", "target": "cat.jpg", "transform": "crop"}``, ready for
``vertex-mm eval-images photos --neardup neardup/manifest.jsonl``. The edits are seeded per
photo and edit, so the same photos and seed give the same files. From a shell::

    python -m vertex_mm.evaluation.neardup photos/ neardup/ [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageEnhance, ImageOps

__all__ = ["TRANSFORMS", "make_near_duplicates", "near_duplicate"]

_SAVE_QUALITY = 95  # edits other than the JPEG ones should not add compression damage too
_LOW_QUALITY = 40


def _crop(im: PILImage.Image, rng: random.Random) -> PILImage.Image:
    w, h = im.size
    cw, ch = round(w * rng.uniform(0.8, 0.9)), round(h * rng.uniform(0.8, 0.9))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return im.crop((x, y, x + cw, y + ch))


def _resize(im: PILImage.Image, rng: random.Random) -> PILImage.Image:
    s = rng.uniform(0.4, 0.7)
    return im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), PILImage.Resampling.BICUBIC)


def _hflip(im: PILImage.Image, rng: random.Random) -> PILImage.Image:
    return ImageOps.mirror(im)


def _jitter(im: PILImage.Image, rng: random.Random) -> PILImage.Image:
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        im = enhance(im).enhance(rng.uniform(0.9, 1.1))
    return im


def _same(im: PILImage.Image, rng: random.Random) -> PILImage.Image:
    return im


def _combined(im: PILImage.Image, rng: random.Random) -> PILImage.Image:
    return _resize(_jitter(_hflip(_crop(im, rng), rng), rng), rng)


# name -> (edit, JPEG quality it is saved at)
TRANSFORMS: dict[str, tuple[Callable[[PILImage.Image, random.Random], PILImage.Image], int]] = {
    "crop": (_crop, _SAVE_QUALITY),
    "resize": (_resize, _SAVE_QUALITY),
    "jpeg40": (_same, _LOW_QUALITY),
    "hflip": (_hflip, _SAVE_QUALITY),
    "jitter": (_jitter, _SAVE_QUALITY),
    "combined": (_combined, _LOW_QUALITY),
}


def near_duplicate(image: PILImage.Image, transform: str, *, seed: int = 0) -> tuple[PILImage.Image, int]:
    """``image`` edited by the named transform (RGB), and the JPEG quality to save it at."""
    try:
        edit, quality = TRANSFORMS[transform]
    except KeyError:
        raise ValueError(f"unknown transform {transform!r}; choose from {', '.join(TRANSFORMS)}") from None
    return edit(image.convert("RGB"), random.Random(seed)), quality


def make_near_duplicates(
    photos: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    transforms: Sequence[str] = tuple(TRANSFORMS),
    seed: int = 0,
) -> Path:
    """Write edited copies of ``photos`` into ``outdir`` and return the manifest's path.

    Targets in the manifest are paths relative to ``root`` (default: each photo's own
    folder, i.e. its file name), matching the ids ``eval-images`` gives the photos of ``root``.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    base = Path(root).resolve() if root is not None else None
    lines = []
    for photo in map(Path, photos):
        target = photo.resolve().relative_to(base).as_posix() if base else photo.name
        # One name per target, and back: "a/b.jpg" -> "a%2Fb.jpg". Dropping the extension and
        # writing "/" as "__" gave cat.jpg and cat.png (or a/b.jpg and a__b.jpg) one file, and
        # the manifest pointed one photo at the other's edit.
        stem = urllib.parse.quote(target, safe="")
        with PILImage.open(photo) as im:
            im.load()
            for name in transforms:
                edited, quality = near_duplicate(im, name, seed=_seed(seed, target, name))
                file = f"{stem}__{name}.jpg"
                edited.save(out / file, "JPEG", quality=quality)
                lines.append({"query": file, "target": target, "transform": name})
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return manifest


def _seed(seed: int, target: str, transform: str) -> int:
    # Stable across runs and Python versions (hash() of a str is salted per process).
    return int.from_bytes(hashlib.sha256(f"{seed}/{target}/{transform}".encode()).digest()[:8], "big")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vertex_mm.evaluation.neardup",
                                     description="Write near-duplicates of a folder's photos and their manifest.")
    parser.add_argument("folder", metavar="DIR", help="folder of photos (searched recursively)")
    parser.add_argument("outdir", metavar="OUTDIR", help="where the edited copies and manifest.jsonl go")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from ..index.build import find_images

    try:
        photos = find_images(args.folder)
    except NotADirectoryError as exc:
        print(f"neardup: {exc}", file=sys.stderr)
        return 2
    manifest = make_near_duplicates(photos, args.outdir, root=args.folder, seed=args.seed)
    print(f"{len(photos) * len(TRANSFORMS)} near-duplicates of {len(photos)} photos; manifest {manifest}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
