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


# -- the joint + detail layout of the default ConSE model --------------------------------------


def _detail_case(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = l2_normalize(rng.standard_normal((1000, 384)))
    weights = rng.standard_normal((1000, 1280)) * np.linspace(3, 0.1, 1280)
    joint = l2_normalize(rng.dirichlet(np.ones(20), size=8) @ classes[:20])
    texts = _unit_rows(5, 384, seed + 1)
    return classes, weights, joint, texts


@pytest.mark.parametrize("dimension", [128, 256, 512, 1408, 700, 3072])
def test_detail_projection_layout_and_unit_rows(dimension: int) -> None:
    from local_backend.projection import DETAIL_LAYOUT, detail_layout, detail_projection

    classes, weights, joint, texts = _detail_case()
    detail = l2_normalize(np.abs(np.random.default_rng(2).standard_normal((8, 1280))))
    images = np.concatenate([np.sqrt(0.19) * joint, 0.9 * detail], 1)
    proj = detail_projection(classes, weights, 0.9, dimension)
    out = proj.apply(images)
    assert out.shape == (8, dimension) and proj.native_dim == 1664
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    j, d = detail_layout(dimension, 384, 1280)
    if dimension in DETAIL_LAYOUT:
        assert (j, d) == DETAIL_LAYOUT[dimension] and j + d == dimension
    # Texts have a zero detail block and keep it: their cosine with an image is the joint one, scaled.
    t = proj.apply(np.concatenate([texts, np.zeros((5, 1280), np.float32)], 1))
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    if j == 384:
        np.testing.assert_allclose(t @ out.T, np.sqrt(0.19) * texts @ joint.T, atol=1e-5)


def test_detail_projection_is_deterministic_and_named_by_its_rule() -> None:
    from local_backend.projection import detail_projection

    classes, weights, joint, _ = _detail_case()
    a, b = detail_projection(classes, weights, 0.9, 512), detail_projection(classes.copy(), weights.copy(), 0.9, 512)
    x = np.concatenate([joint, l2_normalize(np.ones((8, 1280)))], 1)
    np.testing.assert_array_equal(a.apply(x), b.apply(x))
    assert a.id == "svd384to320+wpca1280to192f128w0p9"
    assert detail_projection(classes, weights, 0.8, 1408).id == "native384+wpca1280to1024f128w0p8"
    with pytest.raises(ValueError, match="detail_weight"):
        detail_projection(classes, weights, 1.0, 512)


def test_whitened_pca_scales_axes_and_leaves_the_null_space_out() -> None:
    from local_backend.projection import whitened_pca

    rng = np.random.default_rng(3)
    basis = rng.standard_normal((10, 40)) * np.linspace(5, 1, 40)
    p = whitened_pca(basis, 16, floor=4)
    m = p.matrix.astype(np.float64)
    assert m.shape == (40, 16) and not m[:, 9:].any()  # 10 centred rows have rank 9
    centred = basis - basis.mean(0)
    s = np.linalg.svd(centred, compute_uv=False)
    # Axis i of the centred rows comes out with length s_i / max(s_i, s_4): whitened down to the 4th.
    lengths = np.linalg.norm(centred @ m[:, :9], axis=0)
    np.testing.assert_allclose(lengths, s[:9] / np.maximum(s[:9], s[3]), rtol=1e-4)


def test_uncentred_pca_keeps_the_inner_products_of_vectors_in_the_basis_span() -> None:
    from local_backend.projection import uncentered_pca

    rng = np.random.default_rng(4)
    basis = rng.standard_normal((50, 20)) @ rng.standard_normal((20, 64))  # rank 20 in 64 columns
    p = uncentered_pca(basis, 20)
    x = rng.standard_normal((6, 50)) @ basis
    np.testing.assert_allclose(p.apply(x) @ p.apply(x).T, l2_normalize(x) @ l2_normalize(x).T, atol=1e-5)
    assert p.mean is None and p.id == "svd64to20"


def test_decompositions_are_kept_on_disk_and_a_damaged_file_is_recomputed(tmp_path, monkeypatch) -> None:
    from local_backend import projection
    from local_backend.projection import uncentered_pca, whitened_pca

    monkeypatch.setenv("VERTEX_MM_CACHE_DIR", str(tmp_path))
    basis = np.random.default_rng(5).standard_normal((40, 24))
    projection._svd_memo.clear()
    first = [uncentered_pca(basis, 8).matrix, whitened_pca(basis, 8).matrix]
    files = sorted((tmp_path / "svd").iterdir())
    assert [f.name[:6] for f in files] == ["c40x24", "u40x24"]
    projection._svd_memo.clear()  # a new process: read from disk, the same bits, no decomposition
    real_svd = np.linalg.svd
    monkeypatch.setattr(projection.np.linalg, "svd", lambda *a, **k: pytest.fail("decomposed again"))
    np.testing.assert_array_equal(uncentered_pca(basis, 8).matrix, first[0])
    np.testing.assert_array_equal(whitened_pca(basis, 8).matrix, first[1])
    monkeypatch.setattr(projection.np.linalg, "svd", real_svd)
    for f, damage in zip(files, (b"", b"PK\x03\x04 torn")):  # empty (a power cut) and torn
        f.write_bytes(damage)
    projection._svd_memo.clear()
    np.testing.assert_array_equal(whitened_pca(basis, 8).matrix, first[1])
    np.testing.assert_array_equal(uncentered_pca(basis, 8).matrix, first[0])
    for f in files:
        with np.load(f) as z:
            assert z["vt"].shape == (24, 24)  # rewritten whole
