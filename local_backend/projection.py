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

A model whose native vector is made of blocks (the default ConSE model with CNN detail:
``[joint part ; detail part]``, see :mod:`local_backend.models.conse`) is projected block by
block instead (:class:`BlockProjection`, :func:`detail_projection`): each block is mapped and
normalised on its own, weighted, and the concatenation normalised. A text, whose detail block is
zero, keeps a zero detail block, so its cosine with any image is the joint-block cosine times
the joint weight.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from vertex_mm._paths import cache_dir, write_cache_file

from .models.base import l2_normalize

__all__ = ["DEFAULT_SEED", "DETAIL_LAYOUT", "Block", "BlockProjection", "Projection", "detail_layout",
           "detail_projection", "fit_pca", "identity", "orthonormal", "projection_for", "uncentered_pca",
           "whitened_pca"]

DEFAULT_SEED = 1408
#: Vertex dimension -> (joint part, detail part) of a joint + detail model (dev-tuned, see conse).
DETAIL_LAYOUT: dict[int, tuple[int, int]] = {1408: (384, 1024), 512: (320, 192), 256: (128, 128), 128: (64, 64)}
#: Whitening of the detail axes stops at this principal axis: later axes keep its scale.
WHITEN_FLOOR = 128


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
    _, vt = _svd(data, centred=True)
    comps = _fixed_signs(vt[:dimension])
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


_svd_memo: dict[tuple[bool, tuple[int, ...], bytes], tuple[np.ndarray, np.ndarray]] = {}
_svd_lock = threading.Lock()


def _svd(data: np.ndarray, centred: bool) -> tuple[np.ndarray, np.ndarray]:
    """Singular values and right singular vectors of ``data`` (centred or not), float64; kept
    per content digest, as each dimension of a model needs the same decomposition, in memory
    and in the cache folder (the default model's took 0.5 s of every ``vertex-mm search``)."""
    key = (centred, data.shape, hashlib.blake2b(np.ascontiguousarray(data).tobytes(), digest_size=16).digest())
    with _svd_lock:
        hit = _svd_memo.get(key)
    if hit is None:
        hit = _svd_on_disk(data, centred, key[2].hex())
        with _svd_lock:
            if len(_svd_memo) >= 8:
                _svd_memo.pop(next(iter(_svd_memo)))
            _svd_memo[key] = hit
    return hit


def _svd_on_disk(data: np.ndarray, centred: bool, digest: str) -> tuple[np.ndarray, np.ndarray]:
    path = cache_dir("svd") / f"{'c' if centred else 'u'}{data.shape[0]}x{data.shape[1]}-{digest}.npz"
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:  # our handle: closed even when np.load fails
            sv, vt = z["sv"], z["vt"]
        if sv.shape == (min(data.shape),) and vt.shape == (min(data.shape), data.shape[1]):
            return sv, vt
    except Exception:  # none yet, or an empty, torn or foreign file (EOFError, BadZipFile, ...): recompute it
        pass
    _, sv, vt = np.linalg.svd(data - data.mean(axis=0) if centred else data, full_matrices=False)
    try:
        write_cache_file(path, lambda f: np.savez(f, sv=sv, vt=vt))
    except OSError:
        pass  # a read-only cache only costs the decomposition next time
    return sv, vt


def _fixed_signs(comps: np.ndarray) -> np.ndarray:
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    return comps * signs[:, None]


def uncentered_pca(basis: np.ndarray, dimension: int) -> Projection:
    """The leading ``dimension`` right singular vectors of ``basis`` itself (no centring).

    For a ConSE model, whose image vectors are mixtures of the basis rows, this keeps text ->
    image rankings far better than centred PCA, which shifts every text by the class mean (dev
    text R@5 at 256 dimensions: 0.582 against 0.473)."""
    data = np.asarray(basis, dtype=np.float64)
    if dimension > min(data.shape):
        raise ValueError(f"PCA to {dimension} needs at least {dimension} basis rows and columns, got {data.shape}")
    _, vt = _svd(data, centred=False)
    comps = _fixed_signs(vt[:dimension])
    return Projection(np.ascontiguousarray(comps.T, dtype=np.float32), None,
                      f"svd{data.shape[1]}to{dimension}", data.shape[1], dimension)


def whitened_pca(basis: np.ndarray, dimension: int, floor: int = WHITEN_FLOOR) -> Projection:
    """Principal axes of the centred ``basis`` rows, each divided by its singular value (at least
    the ``floor``-th one). Vectors are not centred. Past the basis's rank the columns are zero:
    axes of its null space are not unique, and vectors must not depend on the LAPACK build."""
    data = np.asarray(basis, dtype=np.float64)
    native = data.shape[1]
    if dimension > native:
        raise ValueError(f"whitened PCA to {dimension} needs at least {dimension} columns, got {data.shape}")
    s, vt = _svd(data, centred=True)
    rank = int(np.sum(s > s[0] * 1e-9))
    keep = min(dimension, rank)
    scale = np.maximum(s[:keep], s[min(floor, rank) - 1])
    matrix = np.zeros((native, dimension), np.float64)
    matrix[:, :keep] = (_fixed_signs(vt[:keep]) / scale[:, None]).T
    return Projection(np.ascontiguousarray(matrix, dtype=np.float32), None,
                      f"wpca{native}to{dimension}f{floor}", native, dimension)


@dataclass(frozen=True, eq=False)
class Block:
    """Native columns ``start:stop``, mapped by ``projection`` (which normalises) and weighted."""

    start: int
    stop: int
    projection: Projection
    weight: float


@dataclass(frozen=True, eq=False)
class BlockProjection(Projection):
    """``apply(x) = normalize(concat(weight_b * P_b(x[:, block b])))``; a zero block stays zero."""

    blocks: tuple[Block, ...] = ()

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1] != self.native_dim:
            raise ValueError(f"projection {self.id} expects {self.native_dim} columns, got {x.shape[-1]}")
        parts = [np.float32(b.weight) * b.projection.apply(x[..., b.start : b.stop]) for b in self.blocks]
        out = l2_normalize(np.concatenate(parts, axis=-1))
        return out if self.matrix is None else l2_normalize(out @ self.matrix)


def detail_layout(dimension: int, joint_dim: int, detail_dim: int) -> tuple[int, int]:
    """``(joint part, detail part)`` of ``dimension`` output columns: :data:`DETAIL_LAYOUT` for the
    Vertex dimensions, else half and half with the joint part at most ``joint_dim``; the detail
    part is at most ``detail_dim`` (a longer output is an orthonormal up-projection)."""
    joint, detail = DETAIL_LAYOUT.get(dimension, (min(joint_dim, dimension // 2), 0))
    joint = min(joint, joint_dim)
    detail = min(dimension - joint, detail_dim)
    return joint, detail


def detail_projection(joint_basis: np.ndarray, detail_basis: np.ndarray, detail_weight: float, dimension: int,
                      seed: int = DEFAULT_SEED) -> BlockProjection:
    """The projection of a ``[joint ; detail]`` model to ``dimension``.

    Joint block (``joint_basis``: the ConSE class text vectors): identity when it keeps all its
    columns, else :func:`uncentered_pca`. Detail block (``detail_basis``: the CNN classifier's
    weight rows): :func:`whitened_pca`. Weights ``sqrt(1 - w^2)`` and ``w``."""
    if not 0.0 < detail_weight < 1.0:
        raise ValueError(f"detail_weight must be in (0, 1), got {detail_weight}")
    jdim, ddim = joint_basis.shape[1], detail_basis.shape[1]
    joint, detail = detail_layout(dimension, jdim, ddim)
    jproj = identity(jdim) if joint == jdim else uncentered_pca(joint_basis, joint)
    dproj = whitened_pca(detail_basis, detail)
    blocks = (Block(0, jdim, jproj, float(np.sqrt(1.0 - detail_weight**2))),
              Block(jdim, jdim + ddim, dproj, float(detail_weight)))
    up = orthonormal(joint + detail, dimension, seed) if joint + detail < dimension else None
    pid = f"{jproj.id}+{dproj.id}w{detail_weight:g}".replace(".", "p") + (f"_{up.id}" if up else "")
    return BlockProjection(None if up is None else up.matrix, None, pid, jdim + ddim, dimension, blocks)
