"""Patchify: the first step of every Vision Transformer, as plain tensor functions.

A ViT reads an image as a sequence of words. It cuts the ``(C, H, W)`` image into
non-overlapping ``P x P`` patches, flattens each patch into a vector of ``P*P*C`` numbers and
projects every vector with one shared linear map to the model width ``D``::

    (B, C, H, W) --patchify--> (B, N, P*P*C) --@ W(P*P*C, D) + b--> (B, N, D)      N = (H/P) * (W/P)

Conventions, fixed once here and used everywhere in the local backend:

* **Patch order is row-major**: patch ``n`` sits at grid row ``n // (W/P)`` and grid column
  ``n % (W/P)``, i.e. left to right, then top to bottom, as a reader scans a page.
* **Inside a patch the layout is (row, column, channel)**, channel fastest (the layout MAE and
  most ViT code use), so a patch vector is the patch's pixels ``patch[p, q, c]`` read in order.

Hugging Face checkpoints store the projection as a ``Conv2d`` with ``kernel_size = stride = P``.
Such a convolution *is* patchify followed by a matmul: :func:`conv_kernel_as_matrix` turns the
``(D, C, P, P)`` kernel into the ``(P*P*C, D)`` matrix, and :func:`embed_patches` applies it.
The tests prove the two equal, which lets our ViT path load those checkpoints unchanged.
"""

from __future__ import annotations

import torch

__all__ = ["conv_kernel_as_matrix", "embed_patches", "patch_grid", "patchify", "unpatchify"]


def patch_grid(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """``(rows, cols)`` of the patch grid; the image sides must be multiples of ``patch_size``."""
    if patch_size <= 0:
        raise ValueError(f"patch_size must be positive, got {patch_size}")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image of {height}x{width} pixels does not split into {patch_size}x{patch_size} patches; "
            f"both sides must be multiples of {patch_size} (resize or crop first)"
        )
    return height // patch_size, width // patch_size


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut ``(B, C, H, W)`` images into ``(B, N, P*P*C)`` patch vectors (row-major, channel last)."""
    if images.ndim != 4:
        raise ValueError(f"patchify expects a (B, C, H, W) tensor, got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    rows, cols = patch_grid(h, w, patch_size)
    p = patch_size
    x = images.reshape(b, c, rows, p, cols, p)
    # (b, c, row, p, col, q) -> (b, row, col, p, q, c): grid first (row-major), then pixels, channel fastest.
    x = x.permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, rows * cols, p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, N, P*P*C)`` back to ``(B, C, H, W)``."""
    if patches.ndim != 3:
        raise ValueError(f"unpatchify expects a (B, N, P*P*C) tensor, got shape {tuple(patches.shape)}")
    b, n, k = patches.shape
    rows, cols = patch_grid(height, width, patch_size)
    p = patch_size
    if n != rows * cols or k % (p * p):
        raise ValueError(
            f"{n} patches of {k} values do not tile a {height}x{width} image with {p}x{p} patches "
            f"(expected {rows * cols} patches of P*P*C values)"
        )
    c = k // (p * p)
    x = patches.reshape(b, rows, cols, p, p, c)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (b, c, row, p, col, q)
    return x.reshape(b, c, height, width)


def conv_kernel_as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A patch-embedding ``Conv2d`` kernel ``(D, C, P, P)`` as the ``(P*P*C, D)`` matrix that
    multiplies :func:`patchify` output (same (row, column, channel) layout inside a patch)."""
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"expected a square (D, C, P, P) kernel, got shape {tuple(weight.shape)}")
    d = weight.shape[0]
    return weight.permute(2, 3, 1, 0).reshape(-1, d)


def embed_patches(
    images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Patch embedding: ``patchify(images) @ conv_kernel_as_matrix(weight) + bias`` -> ``(B, N, D)``.

    Equal to ``Conv2d(C, D, kernel_size=P, stride=P)(images).flatten(2).transpose(1, 2)``.
    """
    patch_size = weight.shape[-1]
    tokens = patchify(images.to(weight.dtype), patch_size) @ conv_kernel_as_matrix(weight)
    return tokens + bias if bias is not None else tokens
