"""Fixtures for the ColPali path: small real multi-vector pages, real PDFs, a tmp index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURE_PDFS = Path(__file__).resolve().parents[1] / "fixtures" / "pdfs"


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def ragged_pages(rng: np.random.Generator) -> list[np.ndarray]:
    """40 pages of 5..60 unit vectors, 32-d (ColQwen2-like: lengths differ per page)."""
    return [unit_rows(rng, int(n), 32) for n in rng.integers(5, 61, size=40)]


@pytest.fixture
def queries(rng: np.random.Generator) -> list[np.ndarray]:
    return [unit_rows(rng, int(n), 32) for n in (3, 7, 12)]


@pytest.fixture
def fixture_pdfs() -> Path:
    return FIXTURE_PDFS
