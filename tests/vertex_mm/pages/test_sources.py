"""What ``expand_sources`` makes of the files a user names: each file once (a folder and a file
in it, a link), one document id per file (``report.pdf`` and ``report.png``, NFC and NFD
spellings of one name), and the page images and DPI recorded for them."""

from __future__ import annotations

import math
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from page_fixtures import PDF_FIXTURE
from PIL import Image

from vertex_mm.cli import main
from vertex_mm.errors import InputError
from vertex_mm.pages import iter_page_images
from vertex_mm.pages.ingest import MAX_PAGE_SIDE, OpenPdfs, PageRef, expand_sources, unique_refs

ZOO = PDF_FIXTURE / "corpus" / "zoo-design.pdf"  # 2 pages


def _copy(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ZOO, dest)
    return dest


def test_a_file_reached_twice_is_taken_once_where_it_first_comes(tmp_path: Path) -> None:
    spec = _copy(tmp_path / "docs" / "spec.pdf")
    _copy(tmp_path / "docs" / "minutes.pdf")
    refs = expand_sources([tmp_path / "docs", spec, spec])
    assert [r.page_id for r in refs] == ["minutes#1", "minutes#2", "spec#1", "spec#2"]
    assert [r.page_id for r in expand_sources([spec, tmp_path / "docs"])] == ["spec#1", "spec#2", "minutes#1", "minutes#2"]


def test_a_link_to_a_file_already_named_is_the_same_file(tmp_path: Path) -> None:
    spec = _copy(tmp_path / "docs" / "spec.pdf")
    (tmp_path / "docs" / "latest").mkdir()
    (tmp_path / "docs" / "latest" / "spec.pdf").symlink_to(spec)
    refs = expand_sources([tmp_path / "docs"])
    assert [r.page_id for r in refs] == ["spec#1", "spec#2"] and refs[0].path == spec  # the file, not the link


def test_a_link_beside_the_real_file_keeps_the_real_name_and_says_which_it_dropped(tmp_path: Path) -> None:
    # "current" sorts before "report-2024": the first name found was kept, silently
    report = _copy(tmp_path / "docs" / "report-2024.pdf")
    (tmp_path / "docs" / "current.pdf").symlink_to("report-2024.pdf")
    notes: list[str] = []
    refs = expand_sources([tmp_path / "docs", tmp_path / "docs" / "current.pdf"], notes=notes)
    assert [(r.doc_id, r.path) for r in refs] == [("report-2024", report)] * 2
    assert notes == [f"{tmp_path}/docs/current.pdf is a link to {report}: indexed once, as 'report-2024'"]
    assert expand_sources([tmp_path / "docs" / "current.pdf"])[0].doc_id == "current"  # named alone: its own name


def test_a_pdf_and_an_image_of_one_name_are_refused_naming_both(tmp_path: Path) -> None:
    # ids "report#1" and "report" differ, but both are document "report": late interaction
    # stopped half way ("pass replace=True"), ocr-fused counted them as one 3-page document
    (tmp_path / "a").mkdir()
    Image.new("RGB", (40, 60), "white").save(tmp_path / "a" / "report.png")
    _copy(tmp_path / "b" / "report.pdf")
    with pytest.raises(InputError, match=r"document 'report' comes from both .*a/report.png and .*b/report.pdf; rename one"):
        expand_sources([tmp_path / "a", tmp_path / "b"])


def test_nfc_and_nfd_spellings_of_one_name_are_one_id_and_clash(tmp_path: Path) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "résumé"), unicodedata.normalize("NFD", "résumé")
    assert nfc != nfd
    a = _copy(tmp_path / "a" / f"{nfc}.pdf")
    b = _copy(tmp_path / "b" / f"{nfd}.pdf")
    assert [r.page_id for r in expand_sources([b])] == [f"{nfc}#1", f"{nfc}#2"]
    assert PageRef(b, 1, doc_id=nfd).doc_id == nfc
    with pytest.raises(InputError, match="comes from both"):
        expand_sources([a, b])


def test_unique_refs_drops_a_page_given_twice_keeping_the_first_order(tmp_path: Path) -> None:
    spec = _copy(tmp_path / "spec.pdf")
    (tmp_path / "link.pdf").symlink_to(spec)
    refs = [PageRef(spec, 2), PageRef(spec, 1), PageRef(spec, 2), PageRef(tmp_path / "link.pdf", 1, doc_id="spec")]
    assert unique_refs(refs) == [PageRef(spec, 2), PageRef(spec, 1)]
    assert unique_refs([PageRef(spec, 1), PageRef(spec, 1, scan=True)]) == [PageRef(spec, 1), PageRef(spec, 1, scan=True)]


@pytest.mark.parametrize("dpi", [0.0, -72.0, math.nan, math.inf])
def test_a_dpi_that_is_not_a_positive_number_is_refused(dpi: float) -> None:
    with pytest.raises(InputError, match="dpi must be a positive number"):
        list(iter_page_images([PageRef(ZOO, 1)], dpi=dpi))


def test_the_dpi_recorded_for_a_long_thin_page_is_the_one_it_was_rendered_at(tmp_path: Path) -> None:
    doc = pdfium.PdfDocument.new()
    doc.new_page(14400, 40)  # a banner: 28,800 px wide at 144 dpi, over the side limit
    doc.save(str(tmp_path / "thin.pdf"))
    doc.close()
    with OpenPdfs() as pdfs:
        page = pdfs.page_image(PageRef(tmp_path / "thin.pdf", 1), dpi=144)
    assert page.image.width <= MAX_PAGE_SIDE
    assert page.metadata()["dpi"] == pytest.approx(page.image.width / 14400 * 72, rel=1e-3)


def test_cli_says_which_name_of_a_linked_file_it_dropped(emulator: Any, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    report = _copy(tmp_path / "docs" / "report-2024.pdf")
    (tmp_path / "docs" / "current.pdf").symlink_to("report-2024.pdf")
    assert main(["pages", "index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--embedder", "gemini",
                 "--api-endpoint", emulator.url]) == 0
    captured = capsys.readouterr()
    assert (f"vertex-mm pages index: note: {tmp_path}/docs/current.pdf is a link to {report}: indexed once, as "
            "'report-2024'\n") in captured.err
    assert "indexed report-2024: 2 pages" in captured.out
