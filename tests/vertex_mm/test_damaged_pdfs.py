"""Damaged real PDFs at the one PDF opener, the document check and page ingestion: each fails as
:class:`~vertex_mm.errors.InvalidDocumentError` naming the file (and the page), and page
ingestion lists it and goes on with the other files.

Pinned from a fuzz run (thousands of mutations of real files): a page the page tree lists but
pdfium cannot load (here: a ``/Count`` that lies) raised pypdfium2's own ``PdfiumError`` from
:meth:`PdfFile.page`, which stopped page ingestion of the whole folder.
"""

from __future__ import annotations

import damaged
import pytest
from factories import pdf_bytes

from vertex_mm.errors import InputError, InvalidDocumentError
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.limits.content import check_document_bytes
from vertex_mm.pages import expand_sources, iter_page_images
from vertex_mm.pages.ingest import OpenPdfs
from vertex_mm.pdf import open_pdf

CONTENT = GEMINI_EMBEDDING_2.content
GOOD = pdf_bytes(2)
LYING = damaged.pdf_with_lying_page_count(GOOD)  # lists 3 pages, holds 2


def test_a_listed_page_that_cannot_be_loaded_is_an_invalid_document_error_naming_file_and_page():
    with open_pdf(LYING, name="report.pdf") as pdf:
        assert len(pdf) == 3
        assert pdf.page_size(1) == (612.0, 792.0)  # the pages it holds still read
        for read in (pdf.page, pdf.page_size, lambda i: pdf.render(i, dpi=10), lambda i: pdf.extract([i])):
            with pytest.raises(InvalidDocumentError, match=r"report\.pdf: page 3 of 3 cannot be loaded") as info:
                read(2)
            assert info.value.input_name == "report.pdf"


def test_page_ingestion_lists_the_unloadable_page_and_renders_the_rest(tmp_path):
    (tmp_path / "a-good.pdf").write_bytes(GOOD)
    (tmp_path / "lying.pdf").write_bytes(LYING)
    (tmp_path / "locked.pdf").write_bytes(damaged.pdf_with_unknown_password(GOOD))
    errors: list[str] = []
    refs = expand_sources([tmp_path], errors=errors)
    pages = [p.page_id for p in iter_page_images(refs, dpi=10, errors=errors)]
    assert pages == ["a-good#1", "a-good#2", "lying#1", "lying#2"]
    assert len(errors) == 2
    assert errors[0].startswith(f"{tmp_path / 'locked.pdf'}: ") and "password-protected" in errors[0]
    assert errors[1].startswith("lying#3: ") and "page 3 of 3 cannot be loaded" in errors[1]
    with OpenPdfs() as pdfs, pytest.raises(InvalidDocumentError, match="page 3 of 3"):  # the OCR reader's way in
        pdfs.page(tmp_path / "lying.pdf", 3)


def test_an_encrypted_pdf_says_so_and_how_to_get_a_readable_copy():
    with pytest.raises(InvalidDocumentError, match=r"locked\.pdf: the PDF is password-protected .*\(qpdf --decrypt"):
        check_document_bytes(damaged.pdf_with_unknown_password(GOOD), CONTENT, name="locked.pdf")


def test_a_broken_xref_is_repaired_as_readers_do():
    assert check_document_bytes(damaged.pdf_with_broken_xref(GOOD), CONTENT, name="x.pdf") == ("application/pdf", 2)


@pytest.mark.parametrize("how, data", list(damaged.mutants(GOOD, n=36, seed=7)), ids=lambda v: v if isinstance(v, str) else "")
def test_every_generic_break_of_a_real_pdf_is_typed_at_every_step(how, data):
    try:
        check_document_bytes(data, CONTENT, name="doc.pdf")
        with open_pdf(data, name="doc.pdf") as pdf:
            for i in range(len(pdf)):
                pdf.render(i, dpi=10)
            pdf.extract(range(len(pdf)))
    except InputError as exc:
        assert exc.input_name == "doc.pdf" and "doc.pdf" in str(exc), how


class _PageWithoutTextLayer:
    """A page whose text layer pdfium cannot load (FPDFText_LoadPage failing): no mutation in
    the fuzz run produced one, so pdfium's failure is raised here, at the boundary."""

    def get_size(self):
        return 612.0, 792.0

    def get_textpage(self):
        import pypdfium2

        raise pypdfium2.PdfiumError("Failed to load text page.")


def test_a_text_layer_pdfium_cannot_load_is_an_invalid_document_error_naming_file_and_page():
    from local_backend.pages.text_layer import has_text_layer, read_pdf_page
    from vertex_mm.pdf import text_page

    with pytest.raises(InvalidDocumentError, match=r"report\.pdf: page 2: the text layer cannot be read") as info:
        with text_page(_PageWithoutTextLayer(), "report.pdf", 2):
            pass
    assert info.value.input_name == "report.pdf"  # the file, as every PDF error names it
    with pytest.raises(InvalidDocumentError, match=r"report\.pdf: page 2") as info:
        has_text_layer(_PageWithoutTextLayer(), "report.pdf", 2)
    assert info.value.input_name == "report.pdf"
    with pytest.raises(InvalidDocumentError, match=r"report\.pdf: page 2") as info:
        read_pdf_page(_PageWithoutTextLayer(), "report#2", name="report.pdf", page_number=2)
    assert info.value.input_name == "report.pdf"


def test_text_page_closes_the_text_layer_after_use():
    with open_pdf(GOOD, name="ok.pdf") as pdf:
        page = pdf.page(0)
        try:
            from vertex_mm.pdf import text_page

            with text_page(page, "ok.pdf", 1) as textpage:
                assert textpage.count_chars() == 0  # a blank page: a text layer without characters
                assert textpage.raw is not None
            assert textpage.raw is None  # pypdfium2 clears the handle on close
        finally:
            page.close()


def test_a_pdf_without_pages_says_so_not_pdfiums_success():
    # PDFium refuses to load an empty page tree and words it "PDFium: Success".
    with pytest.raises(InvalidDocumentError, match=r"^zero\.pdf: the PDF has no pages") as info:
        check_document_bytes(pdf_bytes(0), CONTENT, name="zero.pdf")
    assert info.value.input_name == "zero.pdf"
