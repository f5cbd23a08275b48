"""Fixtures for the OCR-assisted page retriever: real pages from the committed fixture PDFs,
and OCR results cached in a per-session folder."""

import pytest
from page_fixtures import fixture_dir, page_pdf, page_png, pdfs, private_cache, tesseract

__all__ = ["fixture_dir", "page_pdf", "page_png", "pdfs", "private_cache", "tesseract"]


@pytest.fixture(autouse=True)
def _private_cache(private_cache: None) -> None:
    """Every test here keeps its OCR results out of the user's cache."""
