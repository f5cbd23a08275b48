"""Trained projection heads on their frozen towers, as a local model.

>>> emb = get_embedder("local", model="projected", heads="heads.pt")   # doctest: +SKIP

The heads' metadata (``heads.json``, written by ``vertex-mm train-projection``) names the
towers, so this needs nothing else. Vectors live in the heads' own space: ``space_tag``
carries the first 12 hex digits of the weights' SHA-256, so vectors of two trainings never mix.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .projection_heads import ProjectionHeads, load_heads

__all__ = ["ProjectedModel", "create_projected"]


class ProjectedModel:
    """Image tower -> image head, text tower -> text head; both L2-normalised into ``dim``."""

    modalities = frozenset({"image", "text"})

    def __init__(self, heads: ProjectionHeads, metadata: dict[str, Any], image_tower: Any, text_tower: Any,
                 *, name: str = "projected") -> None:
        self.heads, self.metadata = heads.eval(), metadata
        self.image_tower, self.text_tower = image_tower, text_tower
        self.name = name
        self.native_dim = int(metadata["dim"])
        self.space_tag = "heads-" + str(metadata["weights_sha256"])[:12]
        # Scores times this give the trained logits (plus logit_bias for SigLIP heads).
        scale, bias = getattr(heads.loss, "logit_scale", None), getattr(heads.loss, "logit_bias", None)
        self.logit_scale = float(scale.detach().exp()) if scale is not None else 1.0
        self.logit_bias = float(bias.detach()) if bias is not None else 0.0

    def _project(self, head: torch.nn.Module, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return head(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """``(n, dim)`` float32, unit-norm rows."""
        if len(images) == 0:
            return np.zeros((0, self.native_dim), dtype=np.float32)
        return self._project(self.heads.image, self.image_tower.encode_images(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim)`` float32, unit-norm rows."""
        if len(texts) == 0:
            return np.zeros((0, self.native_dim), dtype=np.float32)
        return self._project(self.heads.text, self.text_tower.encode_texts(texts))


def create_projected(heads: str | os.PathLike[str] | None = None, *, name: str = "projected") -> ProjectedModel:
    """Registry factory: load ``heads`` (the weights file; its JSON sits next to it) and its towers."""
    if heads is None:
        raise ValueError(
            f"local model {name!r} needs heads=PATH: the weights written by "
            "`vertex-mm train-projection IMAGES_DIR --captions captions.jsonl --out heads.pt`"
        )
    from ..models.registry import get_shared_model

    loaded, meta = load_heads(heads)
    image_spec, text_spec = meta["image_tower"], meta["text_tower"]
    image_tower = get_shared_model(image_spec["model"], **image_spec.get("params", {}))
    text_tower = get_shared_model(text_spec["model"], **text_spec.get("params", {}))
    return ProjectedModel(loaded, meta, image_tower, text_tower, name=name)
