"""Fixtures for the page-search contracts, data sets and harness: the committed PDFs, and OCR
results cached in a per-session folder."""

import pytest
from page_fixtures import fixture_dir, fixture_pdfs, pdfs, private_cache, tesseract

__all__ = ["fixture_dir", "fixture_pdfs", "pdfs", "private_cache", "tesseract"]


@pytest.fixture(autouse=True)
def _private_cache(private_cache: None) -> None:
    """Every test here keeps its OCR results out of the user's cache."""
