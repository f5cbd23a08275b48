"""Contrastive losses for paired image and text vectors, each with its learnable temperature.

For a batch of ``n`` pairs, row ``i`` of the image matrix belongs with row ``i`` of the text
matrix and with no other row. Both losses read the ``n x n`` similarity matrix
``S = images @ texts.T`` of L2-normalised vectors:

* **CLIP** (Radford et al. 2021): ``logits = t * S``; cross-entropy of each row against its
  diagonal entry, and of each column likewise, averaged. ``t = exp(t')`` starts at 1/0.07 and
  is capped at 100 "to prevent scaling the logits by more than 100, which we found necessary
  to prevent training instability" (the paper). The cap is enforced both in the forward pass
  and on the parameter after each step (:meth:`ClipLoss.clamp_`), as open_clip does.
* **SigLIP** (Zhai et al. 2023): every entry is its own binary problem. ``logits = t * S + b``,
  label ``+1`` on the diagonal and ``-1`` elsewhere, loss ``-sum(log sigmoid(label * logit)) / n``.
  ``t' = log 10`` and ``b = -10`` at the start, so that the many negatives do not swamp the
  first steps (the paper's initialisation).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CLIP_INIT_SCALE", "CLIP_MAX_SCALE", "ClipLoss", "SigLipLoss", "clip_loss", "make_loss", "siglip_loss"]

CLIP_INIT_SCALE = 1 / 0.07
CLIP_MAX_SCALE = 100.0
SIGLIP_INIT_LOG_SCALE = math.log(10.0)
SIGLIP_INIT_BIAS = -10.0


def _check_pairs(images: torch.Tensor, texts: torch.Tensor) -> None:
    if images.ndim != 2 or images.shape != texts.shape:
        raise ValueError(f"expected two (n, d) matrices of paired vectors, got {tuple(images.shape)} and {tuple(texts.shape)}")


def clip_loss(images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE: mean of image->text and text->image cross-entropy at temperature ``1/scale``."""
    _check_pairs(images, texts)
    logits = scale * images @ texts.T
    labels = torch.arange(images.shape[0], device=images.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def siglip_loss(images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor | float,
                bias: torch.Tensor | float) -> torch.Tensor:
    """Pairwise sigmoid loss: ``-sum(log sigmoid(z_ij * (scale * <x_i, y_j> + bias))) / n``, z = +1 on pairs, -1 off."""
    _check_pairs(images, texts)
    n = images.shape[0]
    logits = scale * images @ texts.T + bias
    labels = 2 * torch.eye(n, device=images.device, dtype=logits.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / n


class ClipLoss(nn.Module):
    """CLIP loss with a learnable log-scale ``t'`` (``scale = exp(t')``, capped at 100)."""

    def __init__(self, init_scale: float = CLIP_INIT_SCALE, max_scale: float = CLIP_MAX_SCALE) -> None:
        super().__init__()
        self.max_scale = max_scale
        self.logit_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    @property
    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=self.max_scale)

    def forward(self, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        return clip_loss(images, texts, self.scale)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep ``t'`` in ``[0, log max_scale]`` after an optimiser step, so the cap never traps the gradient."""
        self.logit_scale.clamp_(0.0, math.log(self.max_scale))


class SigLipLoss(nn.Module):
    """SigLIP loss with learnable log-scale ``t'`` (init ``log 10``) and bias ``b`` (init ``-10``)."""

    def __init__(self, init_log_scale: float = SIGLIP_INIT_LOG_SCALE, init_bias: float = SIGLIP_INIT_BIAS) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(float(init_log_scale)))
        self.logit_bias = nn.Parameter(torch.tensor(float(init_bias)))

    @property
    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp()

    def forward(self, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        return siglip_loss(images, texts, self.scale, self.logit_bias)

    def clamp_(self) -> None:
        """Nothing to clamp (SigLIP's scale is not capped); here so both losses share one loop."""


def make_loss(name: str) -> ClipLoss | SigLipLoss:
    """``"clip"`` or ``"siglip"``, with the published initial temperature (and bias)."""
    if name == "clip":
        return ClipLoss()
    if name == "siglip":
        return SigLipLoss()
    raise ValueError(f"loss must be 'clip' or 'siglip', got {name!r}")
