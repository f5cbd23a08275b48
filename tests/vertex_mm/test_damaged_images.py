"""Corrupted real images at the image limits check and request building: a result or a typed
:class:`~vertex_mm.errors.InputError` naming the input, never another exception.

A fuzz run (about 10,000 mutations of real JPEG/PNG/GIF/WebP/BMP/TIFF files) found no
untyped error here: these tests keep it that way, and pin the kinds of odd-but-valid images
that must pass.
"""

from __future__ import annotations

import io
from pathlib import Path

import damaged
import pytest
from factories import image_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

import vertex_mm.sample_data
from vertex_mm import Image
from vertex_mm.errors import ImageTooLargeError, InputError, InvalidImageError
from vertex_mm.limits import GEMINI_EMBEDDING_2, MULTIMODAL_EMBEDDING_001, check_image_bytes, decode_image
from vertex_mm.wire import EmbedRequest

PHOTO = (Path(vertex_mm.sample_data.__file__).parent / "photos" / "cat.jpg").read_bytes()


def _encode(img: PILImage.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _small() -> PILImage.Image:
    with PILImage.open(io.BytesIO(PHOTO)) as im:
        return im.convert("RGB").resize((48, 36))


def _odd_but_valid() -> dict[str, bytes]:
    small = _small()
    rgba = small.convert("RGBA")
    rgba.putalpha(128)
    pal = small.convert("P", palette=PILImage.Palette.ADAPTIVE, colors=16)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    frames = [small.rotate(a).convert("P", palette=PILImage.Palette.ADAPTIVE) for a in (0, 90, 180)]
    gray16 = PILImage.frombytes("I;16", small.size, bytes(2 * small.size[0] * small.size[1]))
    return {
        "cmyk.jpg": _encode(small.convert("CMYK"), "JPEG"),
        "progressive.jpg": _encode(small, "JPEG", progressive=True),
        "exif-rotated.jpg": _encode(small, "JPEG", exif=exif.tobytes()),
        "gray16.png": _encode(gray16, "PNG"),
        "alpha.png": _encode(rgba, "PNG"),
        "gray-alpha.png": _encode(small.convert("LA"), "PNG"),
        "palette-transparent.png": _encode(pal, "PNG", transparency=0),
        "palette.bmp": _encode(pal, "BMP"),
        "animated.gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "animated.webp": _encode(small, "WEBP", save_all=True, append_images=[small.rotate(90)], duration=100),
        "lossless-alpha.webp": _encode(rgba, "WEBP", lossless=True),
    }


ODD = _odd_but_valid()


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_but_valid_images_pass_the_check_and_decode(name):
    assert check_image_bytes(ODD[name], name=name).startswith("image/")
    assert decode_image(ODD[name], name=name).size in ((48, 36), (36, 48))


_BOMBS = {
    "png": lambda: damaged.png_claiming(image_bytes("PNG"), 65535, 65535),
    "jpeg": lambda: damaged.jpeg_claiming(PHOTO, 30000, 30000),
    "gif": lambda: damaged.gif_claiming(image_bytes("GIF"), 65535, 65535),
    "bmp": lambda: damaged.bmp_claiming(image_bytes("BMP"), 100_000, -100_000),
    "webp": lambda: damaged.webp_claiming(ODD["animated.webp"], 30000, 30000),
}


@pytest.mark.parametrize("fmt", sorted(_BOMBS))
def test_a_header_claiming_huge_dimensions_is_refused_with_the_pixel_limit(fmt):
    with pytest.raises(ImageTooLargeError, match=r"bomb\.\w+: image is .* pixels; the limit is 89,478,485 pixels"):
        check_image_bytes(_BOMBS[fmt](), name=f"bomb.{fmt}")


@pytest.mark.parametrize("seed", ["photo.jpg", "image.png", "image.gif", "image.bmp", "lossless-alpha.webp"])
def test_every_generic_break_of_a_real_image_is_typed(seed):
    data = {"photo.jpg": PHOTO, "image.png": image_bytes("PNG"), "image.gif": image_bytes("GIF"),
            "image.bmp": image_bytes("BMP")}.get(seed) or ODD[seed]
    for how, broken in damaged.mutants(data, n=30, seed=len(data)):
        try:
            check_image_bytes(broken, name=seed)
        except InputError as exc:
            assert exc.input_name == seed and seed in str(exc), how


def test_an_empty_file_and_a_video_named_like_an_image_are_refused_by_their_bytes():
    with pytest.raises(InvalidImageError, match=r"x\.jpg: image is empty \(0 bytes\)"):
        check_image_bytes(b"", name="x.jpg")
    pdf_as_png = b"%PDF-1.7\n" + PHOTO[:64]
    with pytest.raises(InvalidImageError, match=r"x\.png: not a recognised image .* accepts BMP, GIF, JPEG, PNG, WEBP"):
        check_image_bytes(pdf_as_png, name="x.png")


@pytest.mark.parametrize("limits", [MULTIMODAL_EMBEDDING_001, GEMINI_EMBEDDING_2], ids=lambda m: m.model)
def test_requests_of_damaged_images_fail_typed_before_any_call(limits):
    broken = PHOTO[: len(PHOTO) // 2]  # cut off mid-scan, as an interrupted download leaves it
    with pytest.raises(InvalidImageError, match="cat.jpg"):
        if limits.content is None:
            EmbedRequest.create(image=Image(broken, name="cat.jpg"), limits=limits)
        else:
            EmbedRequest.create_content(["a cat", Image(broken, name="cat.jpg")], limits=limits)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(at=st.integers(0, len(PHOTO) - 1), junk=st.binary(min_size=1, max_size=32), cut=st.integers(1, len(PHOTO)))
def test_random_damage_to_a_real_photo_is_a_result_or_a_typed_error(at, junk, cut):
    broken = (PHOTO[:at] + junk + PHOTO[at + len(junk):])[:cut]
    try:
        check_image_bytes(broken, name="cat.jpg")
    except InputError as exc:
        assert exc.input_name == "cat.jpg"
