"""Fixtures for the index tests: an embedding space and reproducible unit vectors in it, and
small multi-vector pages for the multi-vector index."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from page_fixtures import queries, ragged_pages, rng

from vertex_mm import Embeddings, EmbeddingSpace

__all__ = ["queries", "ragged_pages", "rng"]


@pytest.fixture
def space() -> EmbeddingSpace:
    return EmbeddingSpace("test", "gaussian", 32)


@pytest.fixture
def make_vectors(space: EmbeddingSpace) -> Callable[..., Embeddings]:
    """``make_vectors(n, seed=0)``: n random unit vectors of ``space`` as Embeddings."""

    def make(n: int, seed: int = 0, sp: EmbeddingSpace | None = None) -> Embeddings:
        sp = sp or space
        x = np.random.default_rng(seed).standard_normal((n, sp.dimension)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return Embeddings(x, sp)

    return make


def _brute_force(corpus: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(corpus, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = q @ c.T
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), order


@pytest.fixture
def brute_force() -> Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]:
    """Reference top-k: (scores, rows) from a full float64 sort of the whole score matrix."""
    return _brute_force


_FAISS_RECALL: dict[str, float] = {}


@pytest.fixture
def faiss_recall() -> dict[str, float]:
    """Where the FAISS recall tests put recall@10 vs exact; printed in the terminal summary."""
    return _FAISS_RECALL


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _FAISS_RECALL:
        parts = ", ".join(f"{k}={v:.3f}" for k, v in sorted(_FAISS_RECALL.items()))
        terminalreporter.write_line(f"FAISS recall@10 vs exact search (20,000 x 64 clustered): {parts}")
