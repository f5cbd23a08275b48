"""From a local model's native dimension to the four Vertex dimensions (128, 256, 512, 1408).

The rule is fixed and documented, so that vectors stored today match queries made tomorrow:

* ``dimension == native``: identity.
* ``dimension > native`` (384 -> 512 or 1408 for the joint default): a fixed orthonormal
  up-projection ``W`` (``W @ W.T = I``). Inner products, cosines and norms are preserved
  exactly, so search results are identical to the native space. ``W`` comes from a QR
  decomposition of Gaussian noise drawn by ``numpy.random.RandomState(seed)``, whose stream
  numpy guarantees never to change (NEP 19); signs are fixed so that ``R`` has a positive
  diagonal.
* ``dimension < native``: PCA, fitted once on the model's ``projection_basis()`` (for the
  joint default: its 1000 class-text vectors; for the CNN: its 1000 classifier rows). Vectors
  are centred on that basis's mean and projected on its leading principal axes; component
  signs are fixed (largest coefficient positive). A model without a basis gets a seeded
  orthonormal down-projection (a Johnson-Lindenstrauss sketch) instead.

Every result is L2-normalised again. :attr:`Projection.id` names the projection; it goes
into ``EmbeddingSpace.variant`` so that spaces from different projections never mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .models.base import l2_normalize

__all__ = ["DEFAULT_SEED", "Projection", "fit_pca", "identity", "orthonormal", "projection_for"]

DEFAULT_SEED = 1408


@dataclass(frozen=True, eq=False)
class Projection:
    """``apply(x) = normalize((x - mean) @ matrix)``; ``matrix`` is (native, dimension)."""

    matrix: np.ndarray | None
    mean: np.ndarray | None
    id: str
    native_dim: int
    dimension: int

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1] != self.native_dim:
            raise ValueError(f"projection {self.id} expects {self.native_dim} columns, got {x.shape[-1]}")
        if self.matrix is None:
            return l2_normalize(x)
        if self.mean is not None:
            x = x - self.mean
        return l2_normalize(x @ self.matrix)


def identity(native_dim: int) -> Projection:
    return Projection(None, None, f"native{native_dim}", native_dim, native_dim)


def orthonormal(native_dim: int, dimension: int, seed: int = DEFAULT_SEED) -> Projection:
    """A fixed (native, dimension) matrix with orthonormal rows (up) or columns (down)."""
    big, small = max(native_dim, dimension), min(native_dim, dimension)
    gauss = np.random.RandomState(seed).standard_normal((big, small))
    q, r = np.linalg.qr(gauss)  # q: (big, small), orthonormal columns
    q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
    matrix = q.T if dimension > native_dim else q  # up: rows orthonormal, W W^T = I
    kind = "orth" if dimension > native_dim else "jl"
    return Projection(np.ascontiguousarray(matrix, dtype=np.float32), None,
                      f"{kind}{native_dim}to{dimension}s{seed}", native_dim, dimension)


def fit_pca(basis: np.ndarray, dimension: int) -> Projection:
    """PCA of ``basis`` rows (float64 SVD, deterministic signs) to ``dimension`` axes."""
    data = np.asarray(basis, dtype=np.float64)
    n, native = data.shape
    if dimension > min(n, native):
        raise ValueError(f"PCA to {dimension} needs at least {dimension} basis rows and columns, got {data.shape}")
    mean = data.mean(axis=0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    comps = vt[:dimension]
    signs = np.sign(comps[np.arange(dimension), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    # The id names the rule, not a digest of the floats: the basis is recomputed on each
    # machine and may differ in the last bit, yet the space is the same. The model's own tag
    # (in the space variant) pins what the basis was computed from.
    return Projection(np.ascontiguousarray(comps.T, dtype=np.float32), mean.astype(np.float32),
                      f"pca{native}to{dimension}", native, dimension)


def projection_for(native_dim: int, dimension: int, basis: np.ndarray | None = None,
                   seed: int = DEFAULT_SEED) -> Projection:
    """The documented rule above, for one model and one dimension."""
    if dimension == native_dim:
        return identity(native_dim)
    if dimension > native_dim:
        return orthonormal(native_dim, dimension, seed)
    if basis is not None:
        return fit_pca(basis, dimension)
    return orthonormal(native_dim, dimension, seed)
