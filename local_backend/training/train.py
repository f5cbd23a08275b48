"""Fit projection heads on frozen towers from image-caption pairs.

The towers never change, so each image and caption is encoded once, up front; training then
runs on those feature matrices alone and takes seconds on a CPU. What is learnt is a head per
tower (linear or MLP) and the loss's temperature (and SigLIP's bias).

Which towers: a model whose registry config names an ``image_model`` and a ``text_model``
(the default ConSE model: EfficientNet-Lite0 and MiniLM) trains over those two towers' own
features, not over its zero-shot outputs; any other joint model (CLIP, SigLIP) trains over
its image and text outputs. ``image_model=``/``text_model=`` pick the towers directly.

>>> result = train_projection("photos/", "captions.jsonl", "heads.pt", loss="siglip")   # doctest: +SKIP
>>> result["recall_at_1_after"]                                                          # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from vertex_mm.errors import InputError
from vertex_mm.evaluation.metrics import recall_at_k

from .data import read_pairs
from .losses import make_loss
from .projection_heads import ProjectionHeads, check_output, save_heads

__all__ = ["TowerSpec", "TrainConfig", "TrainResult", "fit_heads", "similarity_recall_at_k", "towers_for", "train_projection"]


@dataclass(frozen=True)
class TowerSpec:
    """A frozen tower: a registry model name and the parameters it was created with."""

    model: str
    params: dict[str, Any] = field(default_factory=dict)

    def create(self) -> Any:
        from ..models.registry import get_shared_model

        return get_shared_model(self.model, **self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "params": dict(self.params)}


def towers_for(model: str = "default", params: dict[str, Any] | None = None,
               image_model: str | None = None, text_model: str | None = None) -> tuple[TowerSpec, TowerSpec]:
    """The (image, text) towers to train over; see the module docstring for the rule."""
    from ..models.registry import get_model_config

    config = get_model_config(model)
    own = config.get("params", {})
    if isinstance(own.get("image_model"), str) and isinstance(own.get("text_model"), str) and not params:
        image, text = TowerSpec(own["image_model"]), TowerSpec(own["text_model"])
    else:
        image = text = TowerSpec(model, dict(params or {}))
    image = TowerSpec(image_model) if image_model else image
    text = TowerSpec(text_model) if text_model else text
    for spec, modality in ((image, "image"), (text, "text")):
        if modality not in get_model_config(spec.model)["modalities"]:
            raise InputError(f"local model {spec.model!r} has no {modality} tower; pick another with {modality}_model=")
    return image, text


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "clip"  # "clip" (symmetric InfoNCE) or "siglip" (pairwise sigmoid)
    head: str = "linear"  # "linear" or "mlp"
    dim: int = 256
    hidden_dim: int | None = None  # MLP width; default max(in, out)
    epochs: int = 200
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    seed: int = 0
    threads: int | None = None  # torch threads while training; default: 1 for small problems

    def __post_init__(self) -> None:
        # Checked before the towers encode anything: a bad learning rate failed in torch's
        # optimizer only after every image had been encoded.
        for name, ok, rule in (
            ("lr", math.isfinite(self.lr) and self.lr > 0, "a finite number > 0"),
            ("weight_decay", math.isfinite(self.weight_decay) and self.weight_decay >= 0, "a finite number >= 0"),
            ("dim", self.dim >= 1, ">= 1"),
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 2, ">= 2 (a contrastive loss needs negatives)"),
        ):
            if not ok:
                raise InputError(f"{name}={getattr(self, name)!r} must be {rule}", input_name=name)


def _threads_for(config: TrainConfig, pairs: int, width: int) -> int:
    # Heads on a few thousand pairs are tiny matmuls: thread hand-offs cost more than they
    # save, and on a busy machine a 2-thread run measured 17x slower than 1 thread.
    if config.threads:
        return config.threads
    return 1 if min(pairs, config.batch_size) * width < 2_000_000 else torch.get_num_threads()


@dataclass
class TrainResult:
    heads: ProjectionHeads
    epoch_losses: list[float]
    loss_before: float
    loss_after: float
    recall_before: float
    recall_after: float


def similarity_recall_at_k(queries: np.ndarray, keys: np.ndarray, targets: Sequence[int], k: int = 1) -> float:
    """Share of queries whose target key is among their ``k`` most similar keys (dot product):
    :func:`vertex_mm.evaluation.metrics.recall_at_k` of each query's ranking, averaged."""
    scores = queries @ keys.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean([recall_at_k(row.tolist(), {t}, k) for t, row in zip(targets, top)]))


def _evaluate(heads: ProjectionHeads, image_feats: torch.Tensor, text_feats: torch.Tensor,
              pair_image: torch.Tensor) -> tuple[float, float]:
    """(loss over all pairs as one batch, text->image recall@1 over the distinct images)."""
    with torch.no_grad():
        images, texts = heads.image(image_feats), heads.text(text_feats)
        loss = float(heads.loss(images[pair_image], texts))
        recall = similarity_recall_at_k(texts.numpy(), images.numpy(), pair_image.tolist())
    return loss, recall


def fit_heads(image_feats: np.ndarray, text_feats: np.ndarray, image_of_pair: Sequence[int],
              config: TrainConfig = TrainConfig(), progress: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train heads so that text ``i`` lands next to image ``image_of_pair[i]``.

    ``image_feats`` is ``(images, d_image)``, ``text_feats`` ``(pairs, d_text)``. ``progress``
    is called with (epoch, mean loss) after each epoch.
    """
    if len(text_feats) != len(image_of_pair) or len(text_feats) < 2:
        raise InputError(f"need one image index per caption and at least 2 pairs, got {len(text_feats)} captions "
                         f"and {len(image_of_pair)} indices")
    torch.manual_seed(config.seed)
    img = torch.as_tensor(np.asarray(image_feats, dtype=np.float32))
    txt = torch.as_tensor(np.asarray(text_feats, dtype=np.float32))
    pair_image = torch.as_tensor(np.asarray(image_of_pair, dtype=np.int64))
    heads = ProjectionHeads(img.shape[1], txt.shape[1], config.dim, config.head, config.hidden_dim, loss=make_loss(config.loss))
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(_threads_for(config, len(txt), max(img.shape[1], txt.shape[1], config.dim)))
    try:
        return _fit(heads, img, txt, pair_image, config, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(heads: ProjectionHeads, img: torch.Tensor, txt: torch.Tensor, pair_image: torch.Tensor, config: TrainConfig,
         progress: Callable[[int, float], None] | None) -> TrainResult:
    loss_before, recall_before = _evaluate(heads.eval(), img, txt, pair_image)
    optimiser = torch.optim.AdamW(heads.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    n, losses = len(txt), []
    heads.train()
    for epoch in range(config.epochs):
        order, total = torch.randperm(n, generator=generator), 0.0
        steps = math.ceil(n / config.batch_size)
        for s in range(steps):
            batch = order[s * config.batch_size : (s + 1) * config.batch_size]
            if len(batch) < 2:  # one pair has no negatives
                continue
            loss = heads.loss(heads.image(img[pair_image[batch]]), heads.text(txt[batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            heads.loss.clamp_()  # type: ignore[operator]  # a LossModule method, not a Tensor
            total += float(loss.detach())
        losses.append(total / steps)
        if progress is not None:
            progress(epoch + 1, losses[-1])
    loss_after, recall_after = _evaluate(heads.eval(), img, txt, pair_image)
    return TrainResult(heads, losses, loss_before, loss_after, recall_before, recall_after)


def train_projection(images_dir: str | os.PathLike[str], captions: str | os.PathLike[str], out: str | os.PathLike[str], *,
                     model: str = "default", model_params: dict[str, Any] | None = None, image_model: str | None = None,
                     text_model: str | None = None, config: TrainConfig = TrainConfig(),
                     progress: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Read pairs, encode them with the frozen towers, fit heads, save them; return the metadata.

    Unusable pairs are skipped; their errors are counted in the metadata (``skipped_pairs``)
    and listed under ``problems``.
    """
    check_output(out)  # before hours of encoding and training, not after
    pairs = read_pairs(images_dir, captions)
    image_spec, text_spec = towers_for(model, model_params, image_model, text_model)
    image_tower = image_spec.create()
    text_tower = image_tower if text_spec == image_spec else text_spec.create()
    image_feats = image_tower.encode_images(pairs.images)
    text_feats = text_tower.encode_texts(pairs.captions)
    result = fit_heads(image_feats, text_feats, pairs.image_of_pair, config, progress)
    meta = {
        "base_model": model,
        "image_tower": image_spec.to_dict(),
        "text_tower": text_spec.to_dict(),
        "loss": config.loss,
        "training": {k: v for k, v in asdict(config).items() if k not in ("loss", "head", "dim", "hidden_dim")},
        "pairs": len(pairs),
        "images": len(pairs.images),
        "skipped_pairs": len(pairs.errors),
        "loss_before": result.loss_before,
        "loss_after": result.loss_after,
        "recall_at_1_before": result.recall_before,
        "recall_at_1_after": result.recall_after,
    }
    saved = save_heads(result.heads, out, meta)
    return {**saved, "problems": [str(e) for e in pairs.errors], "epoch_losses": result.epoch_losses}
