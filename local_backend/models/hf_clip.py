"""CLIP and SigLIP checkpoints (Hugging Face format, on local disk) as joint image-text models.

>>> emb = get_embedder("local", model="clip", checkpoint="/models/clip-vit-base-patch32")   # doctest: +SKIP
>>> emb = get_embedder("local", model="siglip", checkpoint="google/siglip-base-patch16-224") # from the HF cache

Images go through our ViT path (:mod:`local_backend.models.vit`: explicit patchify, then the
checkpoint's layers) and come out as the *projected pooled output*: CLIP's ``visual_projection``
of the post-LayerNorm CLS token, SigLIP's attention-pooling head. Texts go through the
checkpoint's text tower: CLIP's projected end-of-text token, SigLIP's head over the last token.
Both are L2-normalised, so a dot product is the cosine similarity the model was trained on.

Text is tokenised the way each family was trained. CLIP pads to the longest text in the batch
and truncates at its 77-token context. SigLIP pads every text to its full context (64 tokens)
and reads the last position, with no attention mask (as in big_vision): shorter padding or a
mask would give other vectors than the released model's.

``device="cuda"`` runs both towers on a GPU; vectors come back as numpy on the CPU.

Weights are read from the folder only (``local_files_only=True``); see
:mod:`local_backend.models.hf_checkpoints` for where a repo id is looked up and for the error raised
when nothing is there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vertex_mm.errors import MissingDependencyError

from ..device import ieee_float32, resolve_device
from .base import l2_normalize
from .hf_checkpoints import Checkpoint, resolve_checkpoint
from .hf_loading import check_loading_info, load_part
from .vit import ViTEncoder, ViTImageModel, checkpoint_fingerprint, parts_from_module, preprocess_for

__all__ = ["HFJointModel", "create_clip", "create_siglip"]

_FAMILIES = {
    # model_type -> (family, transformers class, preprocessor class, example repo)
    "clip": ("clip", "CLIPModel", "CLIPImageProcessor", "openai/clip-vit-base-patch32"),
    "siglip": ("siglip", "SiglipModel", "SiglipImageProcessor", "google/siglip-base-patch16-224"),
}


class HFJointModel(ViTImageModel):
    """A CLIP or SigLIP checkpoint as a :class:`~local_backend.models.base.LocalModel` with both
    towers. ``logit_scale`` (and SigLIP's ``logit_bias``) turn cosine similarities into the
    model's logits, e.g. for zero-shot classification."""

    modalities = frozenset({"image", "text"})

    def __init__(self, model: Any, tokenizer: Any, ckpt: Checkpoint, *, family: str, name: str,
                 batch_size: int = 16, processor: str = "CLIPImageProcessor", device: Any = "cpu") -> None:
        encoder = ViTEncoder(parts_from_module(family, model)).eval()
        fingerprint = checkpoint_fingerprint(ckpt)
        super().__init__(encoder, preprocess_for(ckpt, processor), name=name, batch_size=batch_size,
                         fingerprint=fingerprint, checkpoint_path=ckpt.path, device=device)
        # The vision weights moved with the encoder (shared); this moves the text tower.
        self.model = model.to(self.device) if self.device.type != "cpu" else model
        self.tokenizer, self.family = tokenizer, family
        self.space_tag = f"{family}-{fingerprint}"
        self.max_tokens = int(model.config.text_config.max_position_embeddings)
        text_dim = int(getattr(model.config, "projection_dim", 0) or model.config.text_config.hidden_size)
        if family == "siglip":
            text_dim = int(getattr(model.config.text_config, "projection_size", None) or text_dim)
        if text_dim != self.native_dim:
            raise ValueError(f"{ckpt.path}: image vectors have {self.native_dim} dims but text vectors {text_dim}")
        self.logit_scale = float(model.logit_scale.detach().exp())
        self.logit_bias = float(model.logit_bias.detach()) if hasattr(model, "logit_bias") else 0.0

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """The text tower's inputs, padded and truncated as the family was trained."""
        if self.family == "siglip":
            enc = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.max_tokens,
                                 return_tensors="pt")
            return {"input_ids": enc["input_ids"]}
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, native_dim)`` float32, unit-norm rows."""
        if len(texts) == 0:
            return np.zeros((0, self.native_dim), dtype=np.float32)
        rows = []
        with torch.inference_mode(), ieee_float32(self.device):
            for start in range(0, len(texts), self.batch_size):
                inputs = {k: v.to(self.device) for k, v in self.tokenize(texts[start : start + self.batch_size]).items()}
                rows.append(self.model.get_text_features(**inputs).pooler_output.float().cpu())
        return l2_normalize(torch.cat(rows).numpy())


def _load(checkpoint: str | os.PathLike[str], model_type: str, name: str, batch_size: int, device: str) -> HFJointModel:
    import transformers as tf

    where = resolve_device(device, stacklevel=4)
    family, cls_name, processor, repo = _FAMILIES[model_type]
    ckpt = resolve_checkpoint(checkpoint, model_name=name, example_repo=repo, model_types=[model_type], need_tokenizer=True)
    model, info = load_part(
        ckpt, lambda folder: getattr(tf, cls_name).from_pretrained(folder, local_files_only=True, output_loading_info=True),
        what="weights", example_repo=repo)
    check_loading_info(ckpt, info, example_repo=repo)
    try:
        tokenizer = load_part(ckpt, lambda folder: tf.AutoTokenizer.from_pretrained(folder, local_files_only=True),
                              what="tokenizer", example_repo=repo)
    except ImportError as exc:
        # transformers' message names its tokenizer class, not the missing package: say which.
        if family == "siglip" and not _importable("sentencepiece"):
            raise MissingDependencyError(
                f"{ckpt.path}: SigLIP's tokenizer (spiece.model) needs sentencepiece: pip install sentencepiece"
            ) from exc
        raise
    return HFJointModel(model.eval(), tokenizer, ckpt, family=family, name=name, batch_size=batch_size, processor=processor,
                        device=where)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def create_clip(checkpoint: str | os.PathLike[str] = "openai/clip-vit-base-patch32", *, name: str = "clip",
                batch_size: int = 16, device: str = "cpu") -> HFJointModel:
    """Registry factory: a ``CLIPModel`` checkpoint folder, or a repo id in the local HF cache."""
    return _load(checkpoint, "clip", name, batch_size, device)


def create_siglip(checkpoint: str | os.PathLike[str] = "google/siglip-base-patch16-224", *, name: str = "siglip",
                  batch_size: int = 16, device: str = "cpu") -> HFJointModel:
    """Registry factory: a ``SiglipModel`` checkpoint folder, or a repo id in the local HF cache."""
    return _load(checkpoint, "siglip", name, batch_size, device)
