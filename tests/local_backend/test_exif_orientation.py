"""Phone photos carry their rotation in EXIF: the local backend decodes them upright."""

from __future__ import annotations

import io

from PIL import Image as PILImage

from local_backend.preprocess import decode_image


def test_exif_orientation_is_applied():
    img = PILImage.new("RGB", (80, 40), (255, 0, 0))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    decoded = decode_image(buf.getvalue(), "phone.jpg")
    assert decoded.size == (40, 80)
