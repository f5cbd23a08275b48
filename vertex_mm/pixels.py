"""A decoded image as the pixels a person sees: upright, 8-bit RGB, transparency on white.

The one place that turns a Pillow image of any mode into what models and OCR read, for the
local embedders (:mod:`local_backend.preprocess`) and page images (:mod:`vertex_mm.pages`):

* EXIF orientation applied: phones store "rotate me" instead of rotating the pixels.
* 16-bit and 32-bit images scaled to 8 bits: Pillow's ``convert("RGB")`` clips an ``I;16``
  value to 255 instead of scaling it, so a 16-bit grayscale scan or photo became a white
  image (its vector that of a blank page, its text gone).
* Transparent pixels on white, as a browser shows them: dropped alpha left (0, 0, 0), so black
  text on a transparent slide export read as black on black.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["upright_rgb"]

_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def upright_rgb(img: PILImage.Image) -> PILImage.Image:
    """``img`` upright, as 8-bit RGB (see the module docstring). Raises what Pillow raises for
    a damaged EXIF block or palette; callers word it as their typed error."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode == "RGB":
        return img
    if img.mode in _WIDE_MODES:
        img = _to_8_bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        from PIL import Image

        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _to_8_bit(img: PILImage.Image) -> PILImage.Image:
    """A one-channel image of 16-bit, 32-bit integer or float values as 8-bit gray ("L").

    16-bit modes span 0..65535; a 32-bit integer image holding 16-bit data (how some Pillow
    versions open 16-bit PNGs) is scaled as 16-bit, any other by its own maximum; float images
    are taken as 0..1 when they stay within it, else as 0..255."""
    from PIL import Image

    values = np.asarray(img)
    if img.mode == "F":
        top = float(np.nanmax(values)) if values.size else 0.0
        scaled = values * 255.0 if top <= 1.0 else values
    elif img.mode.startswith("I;16"):
        scaled = values.astype(np.float32) / 257.0
    else:
        top = int(values.max()) if values.size else 0
        scaled = values.astype(np.float32) / (1.0 if top <= 255 else 257.0 if top <= 65535 else top / 255.0)
    return Image.fromarray(np.clip(np.nan_to_num(scaled), 0, 255).round().astype(np.uint8), "L")
