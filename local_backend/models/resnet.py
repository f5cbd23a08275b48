"""ResNet from a local Hugging Face checkpoint folder (``transformers.ResNetModel``), image only.

Point ``path`` at a folder holding ``config.json`` (``model_type: resnet``) and the weights (for
example a snapshot of ``microsoft/resnet-50`` copied from a machine with network), or give a repo
id found in the local HF cache; nothing is downloaded. Another model's folder, or weights that do
not fit ``config.json``, are refused rather than filled with random values. Embeddings are the
pooled last-stage activations (2048-d for ResNet-50), L2-normalised; ``encode_image_regions``
returns the cells of the last feature map. ``device="cuda"`` runs it on a GPU (uint8 pixels go
there; vectors come back as numpy).

Preprocessing follows the folder's ``preprocessor_config.json`` when present (size,
``crop_pct``, mean, std), else the ImageNet defaults of ``ConvNextImageProcessor``: shortest
edge 224 / 0.875, centre crop 224, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vertex_mm._optional import require
from vertex_mm.errors import InputError, WeightsNotFoundError

from ..device import ieee_float32, resolve_device
from ..preprocess import draft_size_for, map_all_or_raise, prepare_rgb
from .base import l2_normalize, require_text_tower
from .hf_checkpoints import Checkpoint, resolve_checkpoint
from .hf_loading import check_loading_info, load_part
from .vit import checkpoint_fingerprint

__all__ = ["HFResNetEmbedder", "create_resnet_hf"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EXAMPLE_REPO = "microsoft/resnet-50"


def _preprocess_settings(folder: pathlib.Path) -> tuple[int, float, tuple[float, ...], tuple[float, ...]]:
    cfg_path = folder / "preprocessor_config.json"
    cfg: dict[str, Any] = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    size = cfg.get("size", 224)
    if isinstance(size, dict):
        size = size.get("shortest_edge") or size.get("height") or 224
    return (int(size), float(cfg.get("crop_pct") or 0.875),
            tuple(cfg.get("image_mean", IMAGENET_MEAN)), tuple(cfg.get("image_std", IMAGENET_STD)))


def _resolve(path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint folder (or a repo id in the local HF cache), which must be a transformers ResNet."""
    try:
        return resolve_checkpoint(path, model_name="resnet-hf", example_repo=EXAMPLE_REPO, model_types=["resnet"],
                                  option="path")
    except InputError as exc:
        config = pathlib.Path(path).expanduser() / "config.json"
        timm = config.is_file() and '"architecture"' in config.read_text(encoding="utf-8", errors="replace")
        if not timm:
            raise
        raise InputError(exc.detail, input_name="path", hint=(
            "It is a timm checkpoint (config.json has 'architecture'), whose weights transformers' ResNetModel "
            f"cannot read; use a transformers one such as {EXAMPLE_REPO}")) from exc


class HFResNetEmbedder:
    """Image-only :class:`~local_backend.models.base.LocalModel` over ``transformers.ResNetModel``."""

    modalities = frozenset({"image"})

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None, channels_last: bool = True,
                 device: Any = "cpu") -> None:
        ckpt = _resolve(path)
        folder = ckpt.path
        ResNetModel = require("local", "transformers", what="ResNet").ResNetModel
        # Checked loading: transformers fills every tensor it does not find with random values and
        # only logs it, so a folder of another model gave picture-blind vectors that changed on
        # every load under one space id.
        net, info = load_part(ckpt, lambda f: ResNetModel.from_pretrained(f, local_files_only=True, output_loading_info=True),
                              what="weights", example_repo=EXAMPLE_REPO)
        check_loading_info(ckpt, info, example_repo=EXAMPLE_REPO)
        self.net = net.eval()
        self.device = torch.device(device)
        if self.device.type != "cpu":
            self.net = self.net.to(self.device)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.channels_last = channels_last
        self.path = folder
        self.name = name or f"resnet-hf-{folder.name}"
        self.native_dim = int(self.net.config.hidden_sizes[-1])
        self.image_size, self.crop_pct, mean, std = _preprocess_settings(folder)
        # Folded into one multiply-add on uint8 input: (x / 255 - mean) / std.
        self._scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=self.device).view(1, 3, 1, 1)
        self._shift = torch.tensor([-m / s for m, s in zip(mean, std)], device=self.device).view(1, 3, 1, 1)
        self.draft_size = draft_size_for(self.image_size, self.crop_pct)
        # The weights' fingerprint, as every other checkpoint model has: two folders of one name
        # (a fine-tune saved as "resnet-50" beside the original) shared a space, and an index of
        # one took the other's vectors. Indexes built before this are refused as another space.
        self.space_tag = checkpoint_fingerprint(ckpt)

    def prepare_image(self, img: Any) -> np.ndarray:
        return prepare_rgb(img, self.image_size, crop_pct=self.crop_pct)

    def to_tensor(self, batch: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        arr = np.ascontiguousarray(np.stack(batch) if not isinstance(batch, np.ndarray) else batch)
        x = torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2).float()  # .to(cpu) is no copy
        x = x * self._scale + self._shift
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    @torch.inference_mode()
    def encode_pixels(self, pixel_values: torch.Tensor) -> np.ndarray:
        """Embeddings of already-normalised pixels, (n, 3, h, w): the pooled output, L2-normalised."""
        with ieee_float32(self.device):
            out = self.net(pixel_values=pixel_values.to(self.device)).pooler_output
        return l2_normalize(out.flatten(1).cpu().numpy())

    def encode_prepared(self, batch: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        return self.encode_pixels(self.to_tensor(batch))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.native_dim), np.float32)
        return self.encode_prepared(self._prepare_all(images))

    def _prepare_all(self, images: Sequence[Any]) -> list[np.ndarray]:
        return map_all_or_raise(self.prepare_image, list(images))

    @torch.inference_mode()
    def encode_image_regions(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One (h*w, native_dim) array per image: the last feature map's cells, row-major."""
        fmap = self.net(pixel_values=self.to_tensor(self._prepare_all(images))).last_hidden_state
        return [l2_normalize(c) for c in fmap.flatten(2).transpose(1, 2).cpu().numpy()]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        require_text_tower(self)
        raise AssertionError("unreachable")


def create_resnet_hf(path: str | None = None, name: str | None = None, channels_last: bool = True,
                     device: str = "cpu") -> HFResNetEmbedder:
    """Registry factory for ``resnet-hf``: ``path`` or ``$VERTEX_MM_RESNET_DIR``; ``device`` as
    :func:`local_backend.device.resolve_device`."""
    path = path or os.environ.get("VERTEX_MM_RESNET_DIR")
    if not path:
        raise WeightsNotFoundError(
            "resnet-hf needs a local checkpoint folder: create_model('resnet-hf', path='/models/resnet-50') "
            "or set VERTEX_MM_RESNET_DIR; nothing is downloaded"
        )
    return HFResNetEmbedder(path, name=name, channels_last=channels_last, device=resolve_device(device, stacklevel=3))
