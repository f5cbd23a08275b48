"""Pages with ``/Rotate``: text-layer boxes and picture crops in the frame pdfium displays.

pdfium gives character and object bounds in the page's unrotated user space but renders (and
crops) the page turned by its ``/Rotate``; the reader must put both in one frame, and turn a
picture upright before OCR, or the words in the pictures of rotated pages are never read.
"""

from __future__ import annotations

import ctypes
import io
import pathlib

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image, ImageDraw, ImageFont

from local_backend.pages.ocr import OcrPool
from local_backend.pages.reader import ReaderSettings, read_pages
from local_backend.pages.text_layer import PageFrame, raster_image_boxes, read_pdf_page, text_turn
from vertex_mm.pages import PageRef

ROTATIONS = (0, 90, 180, 270)
LINES = ["The committee reviewed the annual operating budget for the northern district.",
         "Several members asked about maintenance schedules and staffing levels this year."]


def _picture() -> Image.Image:
    image = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(image).text((30, 100), "ZEPHYR QUARTZ", fill="black", font=ImageFont.load_default(size=48))
    return image


def _pdf(path: pathlib.Path, *, rotate: int = 0, sideways: bool = False,
         crop_box: tuple[int, int, int, int] | None = None) -> pathlib.Path:
    """A one-page Letter PDF written by hand: two Helvetica lines and a JPEG holding words, the
    page turned by ``rotate``. ``sideways`` sets text and picture a quarter turn counter-clockwise
    in the content (a landscape table on a portrait page, made upright by /Rotate 90)."""
    buf = io.BytesIO()
    _picture().save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    if sideways:
        ops = [b"q 0 300 -100 0 420 100 cm /Im0 Do Q"]
        ops += [b"BT /F1 12 Tf 0 1 -1 0 %d 72 Tm (%s) Tj ET" % (500 + 16 * i, t.encode()) for i, t in enumerate(LINES)]
    else:
        ops = [b"q 300 0 0 100 100 300 cm /Im0 Do Q"]
        ops += [b"BT /F1 12 Tf 72 %d Td (%s) Tj ET" % (720 - 16 * i, t.encode()) for i, t in enumerate(LINES)]
    content = b"\n".join(ops)
    extra = b" /Rotate %d" % rotate
    if crop_box is not None:
        extra += b" /CropBox [%d %d %d %d]" % crop_box
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> "
        b"/XObject << /Im0 6 0 R >> >>" + extra + b" >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width 900 /Height 300 /ColorSpace /DeviceRGB /BitsPerComponent 8 "
        b"/Filter /DCTDecode /Length %d >>\nstream\n" % len(jpeg) + jpeg + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def _device(page: pdfium.PdfPage, x: float, y: float, size: int = 100_000) -> tuple[float, float]:
    """pdfium's own page-to-display mapping of a user-space point, as fractions (the oracle)."""
    dx, dy = ctypes.c_int(), ctypes.c_int()
    assert pdfium_c.FPDF_PageToDevice(page, 0, 0, size, size, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
    return dx.value / size, dy.value / size


@pytest.mark.parametrize("rotate", ROTATIONS)
def test_page_frame_maps_user_space_as_pdfium_displays_it(tmp_path, rotate):
    # A CropBox whose origin is not 0, 0 as well: boxes are relative to what is displayed.
    pdf = pdfium.PdfDocument(str(_pdf(tmp_path / "p.pdf", rotate=rotate, crop_box=(20, 30, 600, 780))))
    page = pdf[0]
    frame = PageFrame(page)
    for x, y in [(20, 30), (600, 780), (100, 700), (450, 120)]:
        box = frame.box((x, y, x, y))
        want = _device(page, x, y)
        assert box.x0 == pytest.approx(want[0], abs=1e-4) and box.y0 == pytest.approx(want[1], abs=1e-4)


@pytest.mark.parametrize("rotate", ROTATIONS)
def test_text_layer_boxes_of_a_rotated_page_lie_on_its_words_as_rendered(tmp_path, rotate):
    pdf = pdfium.PdfDocument(str(_pdf(tmp_path / "p.pdf", rotate=rotate)))
    page = pdf[0]
    text = read_pdf_page(page, "p#1")
    rendered = page.render(scale=2).to_pil().convert("L")
    W, H = rendered.size
    assert len(text.words) == sum(len(t.split()) for t in LINES)
    for w in text.words:
        assert 0 <= w.box.x0 < w.box.x1 <= 1 and 0 <= w.box.y0 < w.box.y1 <= 1, (w.text, w.box)
        ink = rendered.crop((int(w.box.x0 * W), int(w.box.y0 * H), int(w.box.x1 * W) + 1, int(w.box.y1 * H) + 1))
        assert ink.getextrema()[0] < 100, f"no ink under {w.text!r} at {w.box}"
    [image_box] = raster_image_boxes(page)
    picture = rendered.crop((int(image_box.x0 * W) + 2, int(image_box.y0 * H) + 2,
                             int(image_box.x1 * W) - 2, int(image_box.y1 * H) - 2))
    assert picture.getextrema()[0] < 100  # the picture's letters are inside its box
    assert text.figure_boxes and text.figure_boxes[0].contains_center_of(image_box)


@pytest.mark.parametrize(("rotate", "sideways", "turn"), [(0, False, 0), (90, False, 90), (180, False, 180),
                                                          (270, False, 270), (90, True, 0)])
def test_text_turn_is_how_the_text_reads_as_displayed(tmp_path, rotate, sideways, turn):
    pdf = pdfium.PdfDocument(str(_pdf(tmp_path / "p.pdf", rotate=rotate, sideways=sideways)))
    assert text_turn(pdf[0], "p.pdf", 1) == turn


@pytest.mark.usefixtures("tesseract")
def test_the_words_in_a_picture_are_read_on_every_rotation(tmp_path):
    files = [_pdf(tmp_path / f"rot{r}.pdf", rotate=r) for r in ROTATIONS]
    files.append(_pdf(tmp_path / "landscape.pdf", rotate=90, sideways=True))
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        pages = list(read_pages([PageRef(f) for f in files], pool, ReaderSettings(images=False)))
    for page in pages:
        assert page.error is None and page.text.source == "text-layer" and page.ocr_regions == 1
        ocr = [w for w in page.text.words if w.source == "ocr"]
        assert [w.text for w in ocr] == ["ZEPHYR", "QUARTZ"], page.ref.page_id
        doc = pdfium.PdfDocument(str(page.ref.path))
        [image_box] = raster_image_boxes(doc[0])
        assert all(image_box.contains_center_of(w.box) for w in ocr), page.ref.page_id  # back in the page's frame
