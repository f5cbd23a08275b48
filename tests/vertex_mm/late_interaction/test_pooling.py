"""Hierarchical token pooling."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import maxsim, pool_page, pool_pages
from vertex_mm.late_interaction.pooling import pooled_length


def test_pool_factor_divides_the_number_of_vectors(rng):
    page = rng.standard_normal((100, 16)).astype(np.float32)
    pooled = pool_page(page, 3)
    assert pooled.shape == (pooled_length(100, 3), 16) == (33, 16)
    assert pooled.dtype == np.float32


def test_duplicated_vectors_pool_back_to_the_originals(rng):
    base = rng.standard_normal((10, 16))
    page = np.repeat(base, 3, axis=0).astype(np.float32)  # every vector three times
    pooled = pool_page(page, 3)
    # Ward merges exact duplicates first, so each cluster is one original vector.
    got = sorted(map(tuple, np.round(pooled, 5)))
    assert got == sorted(map(tuple, np.round(base.astype(np.float32), 5)))


def test_pooled_means_keep_maxsim_close_on_redundant_pages(rng):
    # Pages made of a few "regions" with small variations, like patches of a real page.
    pages, queries = [], []
    for _ in range(20):
        centers = rng.standard_normal((12, 32))
        page = np.repeat(centers, 8, axis=0) + 0.05 * rng.standard_normal((96, 32))
        pages.append((page / np.linalg.norm(page, axis=1, keepdims=True)).astype(np.float32))
    queries = [p[rng.choice(96, 4, replace=False)] for p in pages[:5]]
    full, pooled = maxsim(queries, pages), maxsim(queries, pool_pages(pages, 4))
    assert np.argmax(full, axis=1).tolist() == np.argmax(pooled, axis=1).tolist() == [0, 1, 2, 3, 4]
    assert np.abs(full - pooled).max() < 0.2


def test_pool_factor_one_is_the_identity(rng):
    page = rng.standard_normal((7, 4)).astype(np.float32)
    assert pool_page(page, 1) is page


@pytest.mark.parametrize("factor", [0, -2, 1.5, True])
def test_bad_pool_factor_is_an_input_error(rng, factor):
    with pytest.raises(InputError, match="pool_factor"):
        pool_page(rng.standard_normal((7, 4)), factor)
    with pytest.raises(InputError, match="pool_factor"):  # True was a silent no-op here
        pool_pages([rng.standard_normal((7, 4)).astype(np.float32)], factor)


def test_integer_vectors_pool_to_float_means():
    pooled = pool_page(np.array([[1, 0], [2, 0], [0, 1], [0, 2]]), 2)
    assert pooled.dtype == np.float32
    assert sorted(map(tuple, pooled.tolist())) == [(0.0, 1.5), (1.5, 0.0)]  # a cast truncated them to 1
