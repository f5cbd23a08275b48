"""Decoded images as the pixels a person sees (vertex_mm.pixels.upright_rgb), for the local
embedders and for page images: 16-bit images scaled, not clipped to white; transparency on
white, not black; EXIF orientation applied."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vertex_mm.pages.ingest import read_image
from vertex_mm.pixels import upright_rgb


def _gradient() -> np.ndarray:
    return np.tile(np.arange(256, dtype=np.uint8), (16, 1))  # 16 x 256 gray ramp


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("wide", ["I;16", "I", "F"])
def test_wide_gray_images_scale_to_the_same_8_bit_pixels(wide):
    ramp = _gradient()
    if wide == "F":
        img = Image.fromarray(ramp.astype(np.float32) / 255.0, "F")
    else:
        img = Image.fromarray(ramp.astype(np.uint16) * 257)  # the same picture at 16 bits
        img = img if wide == "I;16" else img.convert("I")
    got = np.asarray(upright_rgb(img))
    assert got.shape == (16, 256, 3)
    np.testing.assert_allclose(got[..., 0].astype(int), ramp.astype(int), atol=1)  # convert("RGB") clipped to 255


def test_a_16_bit_png_page_and_a_transparent_one_read_as_they_look(tmp_path):
    ramp = _gradient()
    sixteen = tmp_path / "scan16.png"
    sixteen.write_bytes(_png(Image.fromarray(ramp.astype(np.uint16) * 257)))
    assert abs(float(np.asarray(read_image(sixteen)).mean()) - ramp.mean()) < 1  # was ~255: a white page
    text = np.zeros((16, 16, 4), np.uint8)
    text[4:12, 4:12] = (0, 0, 0, 255)  # black "ink" on a fully transparent background
    slide = tmp_path / "slide.png"
    slide.write_bytes(_png(Image.fromarray(text, "RGBA")))
    pixels = np.asarray(read_image(slide))
    assert (pixels[0, 0] == 255).all() and (pixels[8, 8] == 0).all()  # background white, ink black


def test_exif_orientation_turns_a_page_photo_upright(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    photo = tmp_path / "phone.jpg"
    img.save(photo, "JPEG", exif=exif)
    assert read_image(photo).size == (20, 40)
