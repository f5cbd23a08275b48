"""Training decodes images exactly as the embedder does at inference: upright by EXIF, 16-bit
scans scaled to 8 bits, transparency on white. Heads fitted on other pixels (sideways photos,
white scans, logos on black) are mis-trained for exactly those images."""

from __future__ import annotations

import json
import pathlib

import numpy as np
from PIL import Image

from local_backend.preprocess import decode_image
from local_backend.training.data import read_pairs


def _write_images(folder: pathlib.Path) -> list[str]:
    folder.mkdir()
    # A phone photo stored landscape (80x40) with EXIF Orientation 6: shown portrait (40x80).
    photo = np.zeros((40, 80, 3), np.uint8)
    photo[:, :40] = (255, 0, 0)
    img = Image.fromarray(photo)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(folder / "phone.jpg", exif=exif.tobytes(), quality=95)
    # A mid-gray 16-bit scan: convert("RGB") clips it to white.
    Image.fromarray(np.full((40, 40), 30000, np.uint16)).save(folder / "scan16.png")
    # A blue square on a transparent background: convert("RGB") puts it on black.
    logo = np.zeros((40, 40, 4), np.uint8)
    logo[10:30, 10:30] = (0, 0, 255, 255)
    Image.fromarray(logo, "RGBA").save(folder / "logo.png")
    return ["phone.jpg", "scan16.png", "logo.png"]


def test_training_sees_the_pixels_the_embedder_sees(tmp_path: pathlib.Path) -> None:
    names = _write_images(tmp_path / "img")
    captions = tmp_path / "captions.jsonl"
    captions.write_text("".join(json.dumps({"file": n, "caption": n}) + "\n" for n in names))
    pairs = read_pairs(tmp_path / "img", captions)
    assert pairs.image_files == names and not pairs.errors
    trained = dict(zip(pairs.image_files, pairs.images))
    for name in names:
        seen = decode_image((tmp_path / "img" / name).read_bytes(), name)
        assert trained[name].mode == "RGB" and trained[name].size == seen.size, name
        np.testing.assert_array_equal(np.asarray(trained[name]), np.asarray(seen), err_msg=name)
    assert trained["phone.jpg"].size == (40, 80)
    assert np.asarray(trained["scan16.png"])[0, 0].tolist() == [117, 117, 117]
    assert np.asarray(trained["logo.png"])[0, 0].tolist() == [255, 255, 255]
