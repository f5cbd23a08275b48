"""The documented map from native vectors to the Vertex dimensions."""

from __future__ import annotations

import numpy as np
import pytest

from local_backend.models.base import l2_normalize
from local_backend.projection import DEFAULT_SEED, fit_pca, identity, orthonormal, projection_for


def _unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, d)))


@pytest.mark.parametrize("dimension", [512, 1408])
def test_up_projection_has_orthonormal_rows(dimension: int) -> None:
    w = orthonormal(384, dimension).matrix.astype(np.float64)
    assert w.shape == (384, dimension)
    np.testing.assert_allclose(w @ w.T, np.eye(384), atol=1e-6)


@pytest.mark.parametrize("dimension", [512, 1408])
def test_up_projection_preserves_cosines_exactly(dimension: int) -> None:
    x = _unit_rows(50, 384)
    y = orthonormal(384, dimension).apply(x)
    assert y.shape == (50, dimension)
    np.testing.assert_allclose(y @ y.T, x @ x.T, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-6)


def test_up_projection_is_fixed_by_its_seed() -> None:
    a, b = orthonormal(384, 1408), orthonormal(384, 1408)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert a.id == b.id == f"orth384to1408s{DEFAULT_SEED}"
    other = orthonormal(384, 1408, seed=7)
    assert other.id != a.id and not np.allclose(other.matrix, a.matrix)


def test_pca_is_deterministic_with_fixed_signs() -> None:
    basis = _unit_rows(1000, 384, seed=3)
    a, b = fit_pca(basis, 128), fit_pca(basis.copy(), 128)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    comps = a.matrix.T
    # The largest coefficient of each axis is positive, whatever sign LAPACK returned.
    assert (comps[np.arange(128), np.abs(comps).argmax(axis=1)] > 0).all()
    np.testing.assert_allclose(a.matrix.T @ a.matrix, np.eye(128), atol=1e-5)


def test_pca_keeps_a_low_rank_basis_exactly() -> None:
    # Data living in a 100-dim subspace: PCA to 128 keeps every centred inner product.
    rng = np.random.default_rng(1)
    basis = rng.standard_normal((1000, 100)) @ rng.standard_normal((100, 384))
    proj = fit_pca(basis, 128)
    centred = basis - basis.mean(0)
    reduced = (basis - proj.mean) @ proj.matrix
    np.testing.assert_allclose(reduced @ reduced.T, centred @ centred.T, rtol=1e-3, atol=1e-2)


def test_pca_axes_are_ordered_by_variance() -> None:
    rng = np.random.default_rng(2)
    basis = rng.standard_normal((500, 384)) * np.linspace(3, 0.1, 384)
    proj = fit_pca(basis, 256)
    var = ((basis - proj.mean) @ proj.matrix).var(axis=0)
    assert (np.diff(var) <= 1e-6).all()


def test_projection_for_follows_the_documented_rule() -> None:
    basis = _unit_rows(1000, 384)
    assert projection_for(384, 384).id == "native384"
    assert projection_for(384, 1408).id.startswith("orth384to1408")
    assert projection_for(384, 512).id.startswith("orth384to512")
    assert projection_for(384, 256, basis).id == "pca384to256"
    assert projection_for(384, 128, None).id.startswith("jl384to128")  # no basis: a fixed sketch
    assert projection_for(1280, 512, _unit_rows(1000, 1280)).id == "pca1280to512"


def test_every_projection_returns_unit_rows() -> None:
    x = _unit_rows(20, 384)
    basis = _unit_rows(1000, 384, seed=5)
    for dim in (128, 256, 384, 512, 1408):
        y = projection_for(384, dim, basis).apply(x)
        assert y.shape == (20, dim) and y.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


def test_identity_only_normalises() -> None:
    x = np.array([[3.0, 4.0]], np.float32)
    np.testing.assert_allclose(identity(2).apply(x), [[0.6, 0.8]])


def test_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="expects 384 columns"):
        orthonormal(384, 1408).apply(np.ones((1, 100), np.float32))
