"""Vision Transformer image encoders (ViT, CLIP-vision, SigLIP-vision, DINOv2) from local
Hugging Face checkpoints, run through our own, explicit patch step.

The forward pass, written out once for all four families::

    pixels (B, 3, H, W)
      -> patchify into P x P patches, row-major          (B, N, P*P*3)      local_backend.models.patchify
      -> @ patch kernel (+ bias)                         (B, N, D)          the checkpoint's Conv2d, as a matrix
      -> [CLS] token in front (ViT, CLIP, DINOv2)        (B, 1+N, D)
      -> + position embeddings (bicubic-resized if the grid differs)
      -> pre-norm (CLIP only)
      -> transformer layers (self-attention + MLP)        the checkpoint's own layer modules
      -> final LayerNorm on every token                   "tokens"
      -> pooling: cls | mean | head                       (B, D)
      -> projection into the joint space (CLIP)           (B, E)

Pooling: ``cls`` takes the first token; ``mean`` averages the patch tokens (never the CLS);
``head`` is the checkpoint's own pooling head (SigLIP's attention-pooling head, ViT's tanh
pooler). ``default`` picks what the family's model card uses: CLS for ViT, CLIP and DINOv2
(for CLIP and DINOv2 that is exactly ``pooler_output``), the head for SigLIP.

The layers are ``transformers`` modules holding the checkpoint's weights; everything around
them is here, and the tests check the result against ``transformers``' own forward to 1e-5.

``device="cuda"`` (:func:`create_vit`) runs the encoder on a GPU: preprocessed pixels go there,
vectors come back as numpy on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from vertex_mm.errors import InputError, WeightsNotFoundError

from ..device import ieee_float32, resolve_device
from .base import l2_normalize, require_text_tower
from .hf_checkpoints import Checkpoint, hash_file_ends, resolve_checkpoint
from .hf_loading import check_loading_info, load_part
from .hf_preprocess import ImagePreprocess
from .patchify import embed_patches, patch_grid

__all__ = [
    "POOLINGS",
    "VIT_MODEL_TYPES",
    "ViTEncoder",
    "ViTImageModel",
    "checkpoint_fingerprint",
    "create_vit",
    "load_vit_encoder",
    "parts_from_module",
    "preprocess_for",
    "resize_positions",
]

POOLINGS = ("default", "cls", "mean", "head")

# config.json model_type -> (family, preprocessor class used when the folder names none)
VIT_MODEL_TYPES: dict[str, tuple[str, str]] = {
    "vit": ("vit", "ViTImageProcessor"),
    "clip": ("clip", "CLIPImageProcessor"),
    "clip_vision_model": ("clip", "CLIPImageProcessor"),
    "siglip": ("siglip", "SiglipImageProcessor"),
    "siglip_vision_model": ("siglip", "SiglipImageProcessor"),
    "dinov2": ("dinov2", "BitImageProcessor"),
}


@dataclass
class ViTParts:
    """Where each piece of the forward pass lives in one family's ``transformers`` module."""

    family: str
    patch: nn.Conv2d
    cls_token: torch.Tensor | None  # (D,) or (1, 1, D); None for SigLIP, which has no CLS
    positions: torch.Tensor  # (prefix + grid*grid, D) or with a leading 1
    pre_norm: nn.Module | None
    layers: nn.ModuleList
    final_norm: nn.Module
    head: nn.Module | None = None  # applied to the final tokens
    projection: nn.Module | None = None  # into a joint image-text space


def _vision_root(module: Any) -> Any:
    # CLIPModel / SiglipModel hold the tower in .vision_model; older versions nest it once more.
    while not hasattr(module, "embeddings") and hasattr(module, "vision_model"):
        module = module.vision_model
    return module


def parts_from_module(family: str, model: nn.Module) -> ViTParts:
    """Pick the pieces out of a loaded ``ViTModel``/``CLIP*``/``Siglip*``/``Dinov2Model``."""
    projection = getattr(model, "visual_projection", None)
    # transformers' attribute names differ by family and version: read them untyped.
    root: Any = _vision_root(model)
    emb: Any = root.embeddings
    if family == "vit":
        layers = root.layers if hasattr(root, "layers") else root.encoder.layer  # 5.x vs 4.x layout
        return ViTParts(family, emb.patch_embeddings.projection, emb.cls_token, emb.position_embeddings, None,
                        layers, root.layernorm, head=getattr(root, "pooler", None))
    if family == "dinov2":
        return ViTParts(family, emb.patch_embeddings.projection, emb.cls_token, emb.position_embeddings, None,
                        root.encoder.layer, root.layernorm)
    if family == "clip":
        return ViTParts(family, emb.patch_embedding, emb.class_embedding, emb.position_embedding.weight,
                        root.pre_layrnorm, root.encoder.layers, root.post_layernorm, projection=projection)
    if family == "siglip":
        head = root.head if getattr(root, "use_head", False) else None
        return ViTParts(family, emb.patch_embedding, None, emb.position_embedding.weight, None,
                        root.encoder.layers, root.post_layernorm, head=head)
    raise ValueError(f"unknown ViT family {family!r}")


def resize_positions(positions: torch.Tensor, prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """Position embeddings for another patch grid: the patch part resized bicubically as a
    square image of vectors (as transformers' ``interpolate_pos_encoding``), the prefix kept."""
    head, table = positions[:, :prefix], positions[:, prefix:]
    n, d = table.shape[1], table.shape[2]
    side = int(round(n**0.5))
    if (side, side) == grid:
        return positions
    square = table.reshape(1, side, side, d).permute(0, 3, 1, 2)
    resized = nn.functional.interpolate(square.float(), size=grid, mode="bicubic", align_corners=False).to(table.dtype)
    return torch.cat([head, resized.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], d)], dim=1)


class ViTEncoder(nn.Module):
    """The explicit ViT forward pass of the module docstring over one checkpoint's weights."""

    def __init__(self, parts: ViTParts) -> None:
        super().__init__()
        self.parts = parts
        self.family = parts.family
        self.patch_size = int(parts.patch.kernel_size[0])
        self.prefix = 0 if parts.cls_token is None else 1
        # Registered as submodules so .eval()/.to() reach them; the weights stay shared.
        self.patch = parts.patch
        self.layers = parts.layers
        self.final_norm = parts.final_norm
        self.pre_norm = parts.pre_norm
        self.head = parts.head
        self.projection = parts.projection

    @property
    def width(self) -> int:
        return int(self.patch.out_channels)

    @property
    def output_dim(self) -> int:
        return int(cast(nn.Linear, self.projection).out_features) if self.projection is not None else self.width

    def default_pooling(self) -> str:
        if self.family != "siglip":
            return "cls"
        return "head" if self.head is not None else "mean"

    def tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """Final normalised tokens ``(B, prefix + N, D)`` for ``(B, 3, H, W)`` pixels."""
        grid = patch_grid(pixels.shape[-2], pixels.shape[-1], self.patch_size)
        x = embed_patches(pixels, self.patch.weight, self.patch.bias)
        if self.parts.cls_token is not None:
            x = torch.cat([self.parts.cls_token.reshape(1, 1, -1).expand(x.shape[0], -1, -1), x], dim=1)
        # Read through the parameters at each call (not a copy made at load), so .to() and
        # fine-tuning of the checkpoint's weights are always seen.
        x = x + resize_positions(self.parts.positions.reshape(1, -1, self.width), self.prefix, grid)
        if self.pre_norm is not None:
            x = self.pre_norm(x)
        for layer in self.layers:
            # Bidirectional attention over a fixed-length sequence: no mask needed.
            x = layer(x, None)
            x = x[0] if isinstance(x, tuple) else x
        return self.final_norm(x)

    def pool(self, tokens: torch.Tensor, pooling: str = "default") -> torch.Tensor:
        pooling = self.default_pooling() if pooling == "default" else pooling
        if pooling == "cls":
            if self.prefix == 0:
                raise ValueError(f"{self.family} checkpoints have no CLS token; use pooling='mean' or 'head'")
            return tokens[:, 0]
        if pooling == "mean":
            return tokens[:, self.prefix :].mean(dim=1)
        if pooling == "head":
            if self.head is None:
                raise ValueError(f"this {self.family} checkpoint has no pooling head; use pooling='cls' or 'mean'")
            return self.head(tokens)
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")

    def _apply(self, fn: Any, recurse: bool = True) -> "ViTEncoder":
        # cls_token and positions belong to the checkpoint's embedding module, not registered
        # here: .to() moves them too, in place as nn.Module does, so the weights stay shared.
        super()._apply(fn, recurse)
        with torch.no_grad():
            for attr in ("cls_token", "positions"):
                t = getattr(self.parts, attr)
                if t is None:
                    continue
                moved = fn(t)
                try:
                    t.data = moved
                except RuntimeError:  # a tensor type set_data cannot take (e.g. "meta"): replace it
                    setattr(self.parts, attr, nn.Parameter(moved, t.requires_grad) if isinstance(t, nn.Parameter) else moved)
        return self

    def forward(self, pixels: torch.Tensor, pooling: str = "default", project: bool = True) -> torch.Tensor:
        pooled = self.pool(self.tokens(pixels), pooling)
        return self.projection(pooled) if project and self.projection is not None else pooled


def _load_hf_model(ckpt: Checkpoint, example_repo: str) -> tuple[nn.Module, bool]:
    """The checkpoint's transformers model (text tower dropped), and whether its weights include
    a trained pooling head (ViT classification checkpoints have none)."""
    import transformers as tf

    kind = ckpt.model_type
    archs = ckpt.config.get("architectures") or []
    if kind == "vit":
        cls: Any = tf.ViTModel
    elif kind == "clip":
        cls = tf.CLIPModel
    elif kind == "clip_vision_model":
        cls = tf.CLIPVisionModelWithProjection if "CLIPVisionModelWithProjection" in archs else tf.CLIPVisionModel
    elif kind == "siglip":
        cls = tf.SiglipModel
    elif kind == "siglip_vision_model":
        cls = tf.SiglipVisionModel
    else:
        cls = tf.Dinov2Model
    model, info = load_part(ckpt, lambda folder: cls.from_pretrained(folder, local_files_only=True, output_loading_info=True),
                            what="weights", example_repo=example_repo)
    check_loading_info(ckpt, info, example_repo=example_repo)
    if hasattr(model, "text_model"):
        del model.text_model  # image path only: free the text tower
    has_head = not any(k.startswith("pooler.") for k in info.get("missing_keys", []))
    return model.eval(), has_head


def checkpoint_fingerprint(ckpt: Checkpoint) -> str:
    """A short id of the weights, for the embedding space: vectors of two checkpoints never mix.

    Hashing a multi-GB file on every load is slow, so this hashes config.json, the weight
    file's size and its first and last MiB: enough to tell checkpoints apart.
    """
    h = hashlib.sha256((ckpt.path / "config.json").read_bytes())
    for name in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json"):
        file = ckpt.path / name
        if file.is_file():
            hash_file_ends(h, file, name)
            break
    base = h.hexdigest()[:12]
    # A sharded checkpoint's index file is the same word for word in two fine-tunes of one
    # architecture: the first and last MiB of every shard (tensor bytes) go in too, so their
    # spaces differ (they shared one, and an index of one took the other's vectors).
    index = next((ckpt.path / n for n in ("model.safetensors.index.json", "pytorch_model.bin.index.json")
                  if (ckpt.path / n).is_file()), None)
    if index is None or any((ckpt.path / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")):
        return base
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (json.JSONDecodeError, KeyError, AttributeError) as exc:
        raise InputError(f"{index}: not a weights index ({exc}); the checkpoint is damaged", input_name="checkpoint") from exc
    digest = hashlib.sha256(base.encode())
    for name in shards:
        shard = ckpt.path / name
        if not shard.is_file():
            raise WeightsNotFoundError(f"{ckpt.path}: shard {name} listed in {index.name} is missing; "
                                       "download the whole repository")
        hash_file_ends(digest, shard, name)
    return digest.hexdigest()[:12]


def load_vit_encoder(checkpoint: str | os.PathLike[str], *, model_name: str = "vit",
                     example_repo: str = "google/vit-base-patch16-224-in21k") -> tuple[ViTEncoder, ImagePreprocess, Checkpoint]:
    """Load a ViT-family checkpoint (folder or cached repo id) as an encoder and its preprocessing."""
    ckpt = resolve_checkpoint(checkpoint, model_name=model_name, example_repo=example_repo, model_types=VIT_MODEL_TYPES)
    family, processor = VIT_MODEL_TYPES[ckpt.model_type]
    model, has_head = _load_hf_model(ckpt, example_repo)
    parts = parts_from_module(family, model)
    if not has_head:
        parts.head = None  # randomly initialised by transformers: never pool with it
    encoder = ViTEncoder(parts).eval()
    return encoder, preprocess_for(ckpt, processor), ckpt


def preprocess_for(ckpt: Checkpoint, processor: str) -> ImagePreprocess:
    """The checkpoint's preprocessing; without a preprocessor_config.json, the family's defaults
    at the model's own image size."""
    config = ckpt.read_json("preprocessor_config.json")
    if not config:
        vision = ckpt.config.get("vision_config", ckpt.config)
        side = int(vision.get("image_size", 224))
        config = {"image_processor_type": processor, "size": {"height": side, "width": side}, "do_center_crop": False}
    return ImagePreprocess.from_config(config, family_default=processor)


class ViTImageModel:
    """A ViT-family checkpoint as a :class:`~local_backend.models.base.LocalModel` (images only)."""

    modalities = frozenset({"image"})

    def __init__(self, encoder: ViTEncoder, preprocess: ImagePreprocess, *, name: str, pooling: str = "default",
                 project: bool = True, batch_size: int = 16, fingerprint: str = "",
                 checkpoint_path: pathlib.Path | None = None, device: Any = "cpu") -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.encoder, self.preprocess, self.name = encoder, preprocess, name
        height, width = preprocess.output_size
        if height % encoder.patch_size or width % encoder.patch_size:  # fail at load, not on every image
            raise InputError(
                f"{checkpoint_path or name}: preprocessor_config.json makes {height}x{width} images, which do not "
                f"split into the model's {encoder.patch_size}x{encoder.patch_size} patches; the file does not "
                "belong to these weights", input_name="preprocessor_config.json")
        self.pooling = encoder.default_pooling() if pooling == "default" else pooling
        encoder.pool(torch.zeros(1, 1 + encoder.prefix, encoder.width), self.pooling)  # fail now on a bad pooling
        self.device = torch.device(device)
        if self.device.type != "cpu":
            encoder.to(self.device)
        self.project = project and encoder.projection is not None
        self.native_dim = encoder.output_dim if self.project else encoder.width
        self.batch_size = batch_size
        self.checkpoint_path = checkpoint_path
        # Recorded in the embedding space: another checkpoint or pooling is another space.
        unprojected = "-noproj" if encoder.projection is not None and not self.project else ""
        self.space_tag = f"{encoder.family}-{fingerprint or 'weights'}-{self.pooling}{unprojected}"

    def _batches(self, images: Sequence[Any], fn: Callable[[torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
        out = []
        with torch.inference_mode(), ieee_float32(self.device):
            for start in range(0, len(images), self.batch_size):
                pixels = torch.from_numpy(self.preprocess(images[start : start + self.batch_size]))
                out.append(fn(pixels.to(self.device)).float().cpu())  # .to/.cpu on the CPU: no copy
        return out

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """``(n, native_dim)`` float32, unit-norm rows."""
        if len(images) == 0:
            return np.zeros((0, self.native_dim), dtype=np.float32)
        rows = self._batches(images, lambda px: self.encoder(px, self.pooling, self.project))
        return l2_normalize(torch.cat(rows).numpy())

    def encode_image_regions(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One ``(N, native_dim)`` array of unit-norm patch vectors per image (row-major patches)."""
        def patches(px: torch.Tensor) -> torch.Tensor:
            t = self.encoder.tokens(px)[:, self.encoder.prefix :]
            projection = self.encoder.projection
            return projection(t) if self.project and projection is not None else t

        return [l2_normalize(r.numpy()) for batch in self._batches(images, patches) for r in batch]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        require_text_tower(self)
        raise AssertionError("unreachable")  # pragma: no cover


def create_vit(checkpoint: str | os.PathLike[str] = "google/vit-base-patch16-224-in21k", *, name: str = "vit",
               pooling: str = "default", project: bool = True, batch_size: int = 16,
               example_repo: str = "google/vit-base-patch16-224-in21k", device: str = "cpu") -> ViTImageModel:
    """Registry factory: any ViT / CLIP / SigLIP / DINOv2 checkpoint folder or cached repo id;
    ``device`` as :func:`local_backend.device.resolve_device`."""
    where = resolve_device(device, stacklevel=3)
    encoder, preprocess, ckpt = load_vit_encoder(checkpoint, model_name=name, example_repo=example_repo)
    return ViTImageModel(encoder, preprocess, name=name, pooling=pooling, project=project, batch_size=batch_size,
                         fingerprint=checkpoint_fingerprint(ckpt), checkpoint_path=ckpt.path, device=where)

