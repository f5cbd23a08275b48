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
from local_backend.pages.text_layer import PageFrame, raster_image_boxes, raster_images, read_pdf_page, read_text_layer
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
    if sideways:
        ops = [b"q 0 300 -100 0 420 100 cm /Im0 Do Q"]
        ops += [b"BT /F1 12 Tf 0 1 -1 0 %d 72 Tm (%s) Tj ET" % (500 + 16 * i, t.encode()) for i, t in enumerate(LINES)]
    else:
        ops = [b"q 300 0 0 100 100 300 cm /Im0 Do Q"]
        ops += [b"BT /F1 12 Tf 72 %d Td (%s) Tj ET" % (720 - 16 * i, t.encode()) for i, t in enumerate(LINES)]
    extra = b" /Rotate %d" % rotate
    if crop_box is not None:
        extra += b" /CropBox [%d %d %d %d]" % crop_box
    return _write_pdf(path, ops, extra)


def _mixed_pdf(path: pathlib.Path, *, table_x: int) -> pathlib.Path:
    """A portrait page, no /Rotate, whose text layer is mostly a sideways table (five lines set
    a quarter turn counter-clockwise, the first at ``table_x`` points) with an upright heading and
    the upright picture of :func:`_picture` at x 100..400, y 300..400."""
    ops = [b"q 300 0 0 100 100 300 cm /Im0 Do Q", b"BT /F1 12 Tf 72 740 Td (Annex B) Tj ET"]
    ops += [b"BT /F1 9 Tf 0 1 -1 0 %d 305 Tm (%s) Tj ET" % (table_x + 14 * i, t.encode()) for i, t in enumerate(TABLE)]
    return _write_pdf(path, ops)


TABLE = ["Quarterly figures by region and product line for the fiscal year ending in June",
         "North 1200 1350 1410 1500 South 980 1010 1100 1190 East 760 800 845 900 West 640",
         "Totals include returns adjustments and the currency effects reported by each branch",
         "Regional managers confirmed the numbers on the review call held on the third of July",
         "Figures marked with a star are provisional and will be restated in the annual report"]


def _write_pdf(path: pathlib.Path, ops: list[bytes], page_extra: bytes = b"") -> pathlib.Path:
    buf = io.BytesIO()
    _picture().save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    content = b"\n".join(ops)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> "
        b"/XObject << /Im0 6 0 R >> >>" + page_extra + b" >>",
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
def test_a_picture_without_letters_near_it_turns_as_it_is_displayed(tmp_path, rotate, sideways, turn):
    # its matrix and the page's /Rotate: the letters of these pages are far from the picture
    page = pdfium.PdfDocument(str(_pdf(tmp_path / "p.pdf", rotate=rotate, sideways=sideways)))[0]
    [picture] = raster_images(page)
    _, letters = read_text_layer(page, "p#1", turns=True)
    assert picture.turn == turn and letters.turn_of(picture) == turn


@pytest.mark.parametrize(("table_x", "turn"), [(470, 0), (412, 270)])
def test_a_pictures_turn_is_voted_by_the_letters_near_it_not_by_the_page(tmp_path, table_x, turn):
    # Most letters of the page are a sideways table; the picture is set upright. Far from the
    # table it is read upright; with the table's letters beside it, they decide.
    page = pdfium.PdfDocument(str(_mixed_pdf(tmp_path / "p.pdf", table_x=table_x)))[0]
    [picture] = raster_images(page)
    text, letters = read_text_layer(page, "p#1", turns=True)
    assert picture.turn == 0 and letters.turn_of(picture) == turn
    sideways = sum(n for _, t, n in letters.words if t == 270)
    assert sideways > 10 * sum(n for _, t, n in letters.words if t == 0)  # the page's majority is sideways
    assert len(letters.words) == len(text.words)  # a vote a word, read with the words
    assert read_text_layer(page, "p#1")[1].words == ()  # not asked for: not read


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


@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize(("table_x", "reads"), [(470, 1), (412, 2)])
def test_an_upright_picture_on_a_page_of_sideways_text_is_read(tmp_path, table_x, reads):
    # One turn for the page, from all its letters, turned this picture sideways and lost its
    # words. Far from the table it is read upright at once; beside it, the table's letters turn
    # it, tesseract reads nothing, and it is read as displayed: one extra read, for such crops only.
    f = _mixed_pdf(tmp_path / "mixed.pdf", table_x=table_x)
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        [page] = list(read_pages([PageRef(f)], pool, ReaderSettings(images=False)))
        assert pool.misses == reads
    assert page.error is None and page.text.source == "text-layer" and page.ocr_regions == 1
    ocr = [w for w in page.text.words if w.source == "ocr"]
    assert [w.text for w in ocr] == ["ZEPHYR", "QUARTZ"]
    [image_box] = raster_image_boxes(pdfium.PdfDocument(str(f))[0])
    assert all(image_box.contains_center_of(w.box) for w in ocr)


@pytest.mark.usefixtures("tesseract")
def test_a_page_with_pictures_loads_its_text_layer_once_for_words_and_turns(tmp_path, monkeypatch):
    import local_backend.pages.text_layer as text_layer

    loads = []

    def counting(page, name, number=None):
        loads.append(name)
        return real(page, name, number)

    real = text_layer.text_page
    monkeypatch.setattr(text_layer, "text_page", counting)  # pdfium's text page: the boundary whose cost is counted
    f = _pdf(tmp_path / "p.pdf", rotate=90)
    with OcrPool(1, cache_dir=tmp_path / "ocr") as pool:
        [page] = list(read_pages([PageRef(f)], pool, ReaderSettings(images=False)))
    assert page.ocr_regions == 1 and [w.text for w in page.text.words if w.source == "ocr"] == ["ZEPHYR", "QUARTZ"]
    assert len(loads) == 2  # is there a text layer; its words with their turns (a third load read the turns alone)
