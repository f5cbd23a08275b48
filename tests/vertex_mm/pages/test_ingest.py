"""Page references, the page-id scheme, and rendering PDF pages (pypdfium2), scans and image
files, on the real PDF fixtures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vertex_mm.errors import InputError
from vertex_mm.pages import iter_image_folder, iter_page_batches, iter_page_images, iter_pdf_pages
from vertex_mm.pages.ingest import SCAN_DPI, InvalidDocumentError, PageRef, expand_sources, page_id, pdf_page_count


def test_pdf_pages_carry_doc_page_size_and_dpi(fixture_pdfs):
    pdf = fixture_pdfs / "corpus" / "zoo-design.pdf"
    pages = list(iter_pdf_pages(pdf, dpi=72))
    assert [p.key for p in pages] == ["zoo-design#1", "zoo-design#2"]
    first = pages[0]
    assert first.size_points == pytest.approx((595.28, 841.89), abs=0.01)
    assert abs(first.image.width - 595.28) <= 1 and abs(first.image.height - 841.89) <= 1 and first.image.mode == "RGB"
    meta = first.metadata()
    assert meta["dpi"] == 72 and meta["width_pt"] == pytest.approx(595.28) and meta["source"].endswith("zoo-design.pdf")


def test_dpi_scales_the_rendering(fixture_pdfs):
    pdf = fixture_pdfs / "corpus" / "effects-hex.pdf"
    small = next(iter_pdf_pages(pdf, dpi=72)).image.size
    large = next(iter_pdf_pages(pdf, dpi=144)).image.size
    assert large[0] == pytest.approx(2 * small[0], abs=1)


def test_rendered_page_shows_the_drawn_content(fixture_pdfs):
    # effects-hex.pdf is a purple hexagon sticker: the centre of the page is not white paper.
    img = np.asarray(next(iter_pdf_pages(fixture_pdfs / "corpus" / "effects-hex.pdf", dpi=72)).image)
    centre = img[img.shape[0] // 3 : 2 * img.shape[0] // 3, img.shape[1] // 3 : 2 * img.shape[1] // 3]
    assert centre.mean() < 200


def test_oversized_pages_are_rendered_within_the_pixel_budget(fixture_pdfs):
    page = next(iter_pdf_pages(fixture_pdfs / "corpus" / "zoo-design.pdf", dpi=600, max_pixels=1_000_000))
    assert page.image.width * page.image.height <= 1_000_000 and page.dpi < 600


def test_selected_pages_stream_one_at_a_time(fixture_pdfs):
    it = iter_pdf_pages(fixture_pdfs / "corpus" / "hexagon_binning.pdf", dpi=36, pages=[11, 2])
    assert next(it).page_number == 11
    assert next(it).page_number == 2


def test_page_out_of_range_names_the_document(fixture_pdfs):
    with pytest.raises(InvalidDocumentError, match="has 2 pages; page 5"):
        list(iter_pdf_pages(fixture_pdfs / "corpus" / "zoo-design.pdf", pages=[5]))


def test_not_a_pdf_is_an_invalid_document_error(tmp_path):
    bad = tmp_path / "fake.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(InvalidDocumentError, match="fake.pdf"):
        list(iter_pdf_pages(bad))
    with pytest.raises(InvalidDocumentError, match="no such PDF file"):
        pdf_page_count(tmp_path / "missing.pdf")


def test_image_folder_is_one_document_in_name_order(tmp_path):
    folder = tmp_path / "scan-42"
    folder.mkdir()
    for name, colour in [("p10.png", "red"), ("p02.jpg", "blue")]:
        Image.new("RGB", (40, 60), colour).save(folder / name)
    pages = list(iter_image_folder(folder))
    assert [(p.doc_id, p.page_number, p.extra["file"]) for p in pages] == [("scan-42", 1, "p02.jpg"), ("scan-42", 2, "p10.png")]


def test_document_sources_mix_pdf_folders_and_files(fixture_pdfs):
    pages = list(iter_page_images(expand_sources([fixture_pdfs / "corpus"]), dpi=18))
    assert len(pages) == 25
    assert {p.doc_id for p in pages} == {"effects-hex", "hexagon_binning", "zoo-design", "zoo-quickref"}
    assert pages[0].page_id == "effects-hex#1"


def test_one_page_id_scheme_for_pdf_pages_and_image_files(tmp_path):
    assert page_id("report", 3) == "report#3" and page_id("scan-7", single_image=True) == "scan-7"
    assert PageRef(tmp_path / "report.pdf", 3).page_id == "report#3"
    assert PageRef(tmp_path / "scan-7.png").page_id == "scan-7"
    assert PageRef(tmp_path / "one.pdf").page_id == "one#1"  # a one-page PDF is still a PDF page


def test_expand_sources_names_every_pdf_page_and_each_image(tmp_path, fixture_pdfs):
    Image.new("RGB", (40, 60), "red").save(tmp_path / "scan-7.png")
    (tmp_path / "zoo-design.pdf").write_bytes((fixture_pdfs / "corpus" / "zoo-design.pdf").read_bytes())
    refs = expand_sources([tmp_path])
    assert [r.page_id for r in refs] == ["scan-7", "zoo-design#1", "zoo-design#2"]
    assert refs[2] == PageRef(tmp_path / "zoo-design.pdf", 2)


def test_expand_sources_rejects_missing_foreign_and_clashing_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        expand_sources([tmp_path / "nope.pdf"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a PDF or page image"):
        expand_sources([tmp_path / "notes.txt"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        Image.new("RGB", (8, 8)).save(tmp_path / folder / "p1.png")
    with pytest.raises(InputError, match="'p1' comes from both"):
        expand_sources([tmp_path / "a", tmp_path / "b"])


def test_an_unreadable_pdf_is_listed_and_the_other_files_expand(tmp_path, fixture_pdfs):
    (tmp_path / "zoo-design.pdf").write_bytes((fixture_pdfs / "corpus" / "zoo-design.pdf").read_bytes())
    (tmp_path / "notapdf.pdf").write_text("hello")
    (tmp_path / "empty.pdf").write_bytes(b"")
    with pytest.raises(InvalidDocumentError, match="empty.pdf"):
        expand_sources([tmp_path])  # without an errors list, as before
    errors: list[str] = []
    refs = expand_sources([tmp_path], errors=errors)
    assert [r.page_id for r in refs] == ["zoo-design#1", "zoo-design#2"]
    assert [e.split(": ")[0] for e in errors] == [str(tmp_path / "empty.pdf"), str(tmp_path / "notapdf.pdf")]
    assert all(e.count("notapdf.pdf") + e.count("empty.pdf") == 1 for e in errors)  # the file named once


def test_an_unreadable_page_image_is_listed_and_the_stream_goes_on(tmp_path, fixture_pdfs):
    Image.new("RGB", (40, 60), "red").save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"%PDF-1.4 garbage")
    refs = [PageRef(tmp_path / "bad.png"), PageRef(fixture_pdfs / "corpus" / "zoo-design.pdf", 1), PageRef(tmp_path / "good.png")]
    with pytest.raises(InvalidDocumentError, match="bad.png"):
        list(iter_page_images(refs, dpi=36))
    errors: list[str] = []
    assert [p.page_id for p in iter_page_images(refs, dpi=36, errors=errors)] == ["zoo-design#1", "good"]
    assert len(errors) == 1 and errors[0].startswith("bad: ") and "not a readable image" in errors[0]


def test_a_scan_ref_is_rendered_as_a_grayscale_image_at_scan_dpi(fixture_pdfs):
    pdf = fixture_pdfs / "corpus" / "zoo-design.pdf"
    [scan] = iter_page_images([PageRef(pdf, 1, scan=True)], dpi=72)
    [color] = iter_page_images([PageRef(pdf, 1)], dpi=72)
    assert scan.dpi == pytest.approx(SCAN_DPI) and color.dpi == pytest.approx(72)
    pixels = np.asarray(scan.image)
    assert scan.image.mode == "RGB" and (pixels[..., 0] == pixels[..., 2]).all()
    assert scan.page_id == "zoo-design#1"


def test_batches_are_bounded():
    assert [len(b) for b in iter_page_batches(range(7), 3)] == [3, 3, 1]  # type: ignore[arg-type]


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (Pillow reads the size from it)."""
    import io
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 3_000), (30_000, 1)])
def test_a_page_image_over_the_pixel_or_side_cap_is_refused_before_decoding(tmp_path, size):
    (tmp_path / "bomb.png").write_bytes(_bomb_png(*size))
    with pytest.raises(InvalidDocumentError, match=r"bomb.png.*pixels") as caught:
        next(iter_image_folder(tmp_path))
    # Pillow's own bomb guard may speak first (over twice its limit); either way the size is named.
    assert f"{size[0]}x{size[1]}" in str(caught.value) or f"{size[0] * size[1]} pixels" in str(caught.value)


def test_a_bomb_among_page_images_is_that_pages_error_in_the_reader(tmp_path):
    from vertex_mm.pages.ingest import OpenPdfs

    (tmp_path / "bomb.png").write_bytes(_bomb_png(100_000, 100_000))
    Image.new("RGB", (40, 30), "white").save(tmp_path / "ok.png")
    with OpenPdfs() as pdfs:
        with pytest.raises(InvalidDocumentError):
            pdfs.page_image(PageRef(tmp_path / "bomb.png"))
        assert pdfs.page_image(PageRef(tmp_path / "ok.png")).image.size == (40, 30)
