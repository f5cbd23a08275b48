"""Pages given to ``embed_pages(images)`` as PIL images are embedded as ``vertex-mm pages index``
embeds the same files: upright by EXIF, 16-bit scans scaled to 8 bits, transparency on white.
A plain ``convert("RGB")`` made a transparent slide all black and a 16-bit scan all white."""

from __future__ import annotations

import io
import pathlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from local_backend.models.page_pixels import page_rgb
from vertex_mm.errors import InvalidImageError
from vertex_mm.pages import PageImage
from vertex_mm.pixels import upright_rgb


def transparent_slide() -> Image.Image:
    """Black text-like bars on a transparent background, as presentation tools export slides."""
    rgba = np.zeros((160, 200, 4), np.uint8)
    rgba[40:50, 20:180, 3] = 255
    rgba[80:90, 20:120, 3] = 255
    return Image.fromarray(rgba, "RGBA")


def scan16() -> Image.Image:
    ramp = np.linspace(0, 40000, 200, dtype=np.uint16)[None, :].repeat(160, axis=0)
    return Image.fromarray(ramp)


def exif_photo() -> Image.Image:
    """Stored 200x160 with Orientation 6: shown 160x200. Reopened, as a caller's file would be."""
    arr = np.zeros((160, 200, 3), np.uint8)
    arr[:, :100] = (255, 0, 0)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return Image.open(io.BytesIO(buf.getvalue()))


PAGES = {"transparent slide": transparent_slide, "16-bit scan": scan16, "EXIF-6 photo": exif_photo}


@pytest.mark.parametrize("make", PAGES.values(), ids=PAGES.keys())
def test_page_rgb_is_what_pages_index_decodes(make: Callable[[], Image.Image]) -> None:
    got = page_rgb(make(), 0)
    want = upright_rgb(make())
    assert got.mode == "RGB" and got.size == want.size
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_page_rgb_fixes_what_convert_rgb_broke() -> None:
    assert np.asarray(page_rgb(transparent_slide(), 0))[0, 0].tolist() == [255, 255, 255]  # not black
    assert 70 < np.asarray(page_rgb(scan16(), 0)).mean() < 85  # a 0..156 ramp, not white
    assert page_rgb(exif_photo(), 0).size == (160, 200)  # upright
    page = PageImage(doc_id="deck", page_number=3, image=transparent_slide())
    assert np.asarray(page_rgb(page, 0))[0, 0].tolist() == [255, 255, 255]


def test_page_rgb_names_a_page_that_is_not_an_image() -> None:
    with pytest.raises(InvalidImageError, match=r"page images\[1\]: expected a PIL image"):
        page_rgb(b"png bytes", 1)


def test_native_colpali_embeds_a_transparent_page_on_white(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import tiny_colpali_checkpoints as tiny  # tests/support is on sys.path

    from local_backend.models.colpali import ColPaliFamilyEmbedder

    emb = ColPaliFamilyEmbedder.from_pretrained(tiny.build("colmodernvbert", tmp_path / "cmvb"), device="cpu", dtype="float32")
    pages = [make() for make in PAGES.values()]
    for given, upright in zip(emb.embed_pages(pages), emb.embed_pages([upright_rgb(p) for p in pages])):
        np.testing.assert_array_equal(given, upright)


def test_regions_embeds_a_transparent_page_on_white(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from local_backend.models.regions import RegionConSEEmbedder
    from local_backend.models.resnet import HFResNetEmbedder

    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 8, 8, 16], depths=[1, 1, 1, 1],
                                       layer_type="basic", hidden_act="relu")
    torch.manual_seed(0)
    transformers.ResNetModel(config).save_pretrained(tmp_path / "resnet")
    emb = RegionConSEEmbedder(HFResNetEmbedder(tmp_path / "resnet"))  # any image model with regions
    pages = [make() for make in PAGES.values()]
    for given, upright in zip(emb.embed_pages(pages), emb.embed_pages([upright_rgb(p) for p in pages])):
        np.testing.assert_array_equal(given, upright)
