"""``as_pil``: the pixels a third-party page embedder gets are those ``pages index`` embeds."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vertex_mm.pages import PageImage
from vertex_mm.pages.embedder import as_pil


def test_a_transparent_page_is_white_not_black_and_a_16_bit_scan_keeps_its_ink():
    slide = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    slide.putpixel((1, 1), (0, 0, 0, 255))
    page = as_pil(PageImage(doc_id="deck.pdf", page_number=1, image=slide))
    pixels = np.asarray(page)
    assert page.mode == "RGB" and pixels[0, 0].tolist() == [255, 255, 255] and pixels[1, 1].tolist() == [0, 0, 0]
    scan = Image.fromarray(np.full((4, 4), 20000, dtype=np.uint16))  # mid-grey in 16 bits
    grey = np.asarray(as_pil(scan))
    assert grey.shape == (4, 4, 3) and 60 < int(grey[0, 0, 0]) < 100  # 20000/65535 of white, not 255
