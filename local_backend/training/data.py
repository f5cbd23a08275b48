"""Image-caption pairs for training: a folder of images and a JSONL file of captions.

Each line of the JSONL file is ``{"file": "cat.jpg", "caption": "a cat on a sofa"}``; ``file``
is relative to the images folder. An image may have several lines (several captions). Blank
lines are skipped.

A bad line (not JSON, missing keys, empty caption, image missing or undecodable) does not stop
the others: it becomes a typed :class:`~vertex_mm.errors.InputError` naming the file and the
line, collected in :attr:`PairSet.errors`, and training goes on with the rest.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass, field

from PIL import Image as PILImage

from vertex_mm.errors import InputError, InvalidImageError, InvalidTextError, VertexMMError

__all__ = ["PairSet", "read_pairs"]


@dataclass
class PairSet:
    """Distinct images (decoded RGB), one caption per pair, and which image each pair shows."""

    images: list[PILImage.Image] = field(default_factory=list)
    image_files: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    image_of_pair: list[int] = field(default_factory=list)
    errors: list[VertexMMError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.captions)


#: The largest training image file read (its pixels are capped by the one decoder too).
_MAX_IMAGE_BYTES = 64 * 1024 * 1024


def _decode(path: pathlib.Path, where: str) -> PILImage.Image:
    """Through the embedder's own decoder (size read bounded, pixel cap: a decompression bomb
    is that line's error, not the run's). Heads must be fitted on the pixels the embedder sees
    later: upright by EXIF, 16-bit scaled to 8, transparency on white. A plain
    ``convert("RGB")`` trained them on sideways photos, white scans and logos on black."""
    from vertex_mm.media import read_input_file

    from ..preprocess import decode_image

    try:
        data = read_input_file(path, kind="image", max_bytes=_MAX_IMAGE_BYTES)
        return decode_image(data, name=f"{where}: image {path}")
    except InvalidImageError:
        raise
    except InputError as exc:
        raise InvalidImageError(f"{where}: cannot decode image {path}: {exc}", input_name=str(path)) from exc


def _parse_line(line: str, where: str) -> tuple[str, str]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})", input_name=where) from exc
    if not isinstance(row, dict) or not isinstance(row.get("file"), str) or "caption" not in row:
        raise InputError(f'{where}: expected an object with "file" and "caption"', input_name=where)
    caption = row["caption"]
    if not isinstance(caption, str) or not caption.strip():
        raise InvalidTextError(f"{where}: caption must be a non-empty string", input_name=where)
    return row["file"], caption


def read_pairs(images_dir: str | os.PathLike[str], captions: str | os.PathLike[str]) -> PairSet:
    """Read every usable pair; unusable lines land in ``errors``. Raises :class:`InputError`
    only when a path itself is missing or when no pair at all is usable."""
    root, captions = pathlib.Path(images_dir), pathlib.Path(captions)
    if not root.is_dir():
        raise InputError(f"images folder {root} does not exist", input_name=str(root))
    if not captions.is_file():
        raise InputError(f"captions file {captions} does not exist", input_name=str(captions))
    out = PairSet()
    index: dict[pathlib.Path, int] = {}
    for number, line in enumerate(captions.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{captions}:{number}"
        try:
            name, caption = _parse_line(line, where)
            path = (root / name).resolve()
            if path not in index:
                if not path.is_file():
                    raise InputError(f"{where}: image {root / name} does not exist", input_name=str(root / name))
                out.images.append(_decode(path, where))
                out.image_files.append(name)
                index[path] = len(out.images) - 1
        except VertexMMError as exc:
            out.errors.append(exc)
            continue
        out.captions.append(caption)
        out.image_of_pair.append(index[path])
    if not out.captions:
        detail = f"; first problem: {out.errors[0]}" if out.errors else ""
        raise InputError(f"{captions}: no usable image-caption pairs{detail}", input_name=str(captions))
    return out
