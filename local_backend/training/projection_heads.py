"""Projection heads: small trainable maps from two frozen towers into one shared space.

A head is a linear map, or a two-layer MLP (Linear, GELU, Linear), followed by L2
normalisation. :class:`ProjectionHeads` holds one head per tower plus the loss's learned
temperature (kept so that scores can be turned back into the trained logits).

On disk, heads are two files side by side:

* the weights: ``heads.safetensors`` (safetensors) or any other name (``heads.pt``: a
  ``torch.save`` of the state dict, read back with ``weights_only=True``);
* ``heads.json``: what is needed to rebuild and use them (the towers by registry name and
  parameters, the dimensions, the head kind, the loss, training facts) and the SHA-256 of the
  weights file. Loading refuses weights whose hash differs from the record: a JSON next to the
  wrong weights would otherwise give vectors of another space under the same name.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from vertex_mm._paths import write_cache_file
from vertex_mm.errors import InputError, WeightsNotFoundError

__all__ = [
    "FORMAT", "HEAD_KINDS", "ProjectionHead", "ProjectionHeads", "check_output", "file_sha256", "load_heads",
    "metadata_path", "save_heads",
]

FORMAT = "vertex-mm-projection-heads/1"
HEAD_KINDS = ("linear", "mlp")


class ProjectionHead(nn.Module):
    """``in_dim -> out_dim``, linear or MLP, output L2-normalised."""

    def __init__(self, in_dim: int, out_dim: int, kind: str = "linear", hidden_dim: int | None = None) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"head kind must be one of {HEAD_KINDS}, got {kind!r}")
        if kind == "linear":
            self.net: nn.Module = nn.Linear(in_dim, out_dim)
        else:
            hidden = hidden_dim or max(in_dim, out_dim)
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


class ProjectionHeads(nn.Module):
    """An image head and a text head into one ``dim``-dimensional space."""

    def __init__(self, image_in: int, text_in: int, dim: int, kind: str = "linear", hidden_dim: int | None = None,
                 loss: nn.Module | None = None) -> None:
        super().__init__()
        self.image = ProjectionHead(image_in, dim, kind, hidden_dim)
        self.text = ProjectionHead(text_in, dim, kind, hidden_dim)
        self.loss = loss if loss is not None else nn.Module()
        self.config = {"image_in_dim": image_in, "text_in_dim": text_in, "dim": dim, "head": kind, "hidden_dim": hidden_dim}


def metadata_path(weights: str | os.PathLike[str]) -> pathlib.Path:
    """``heads.pt`` -> ``heads.json``: where the metadata of a weights file lives."""
    return pathlib.Path(weights).with_suffix(".json")


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_output(path: str | os.PathLike[str]) -> None:
    """Refuse, before any training, an output whose metadata file would be the weights file
    itself (``heads.json``) or the metadata of other weights (``m.safetensors`` beside ``m.pt``
    share ``m.json``): both runs succeeded and left weights that no longer load."""
    path = pathlib.Path(path)
    meta_file = metadata_path(path)
    if meta_file == path:
        raise InputError(f"{path}: the weights file cannot end in .json, the suffix of its metadata file; "
                         "name it .pt or .safetensors", input_name=str(path))
    if meta_file.is_file():
        try:
            held = json.loads(meta_file.read_text(encoding="utf-8")).get("weights_file")
        except (ValueError, AttributeError, OSError):
            held = None
        if held is not None and held != path.name:
            raise InputError(f"{meta_file} holds the metadata of {held}, which would no longer load; "
                             f"choose another --out name than {path.name}", input_name=str(path))


def save_heads(heads: ProjectionHeads, path: str | os.PathLike[str], metadata: dict[str, Any]) -> dict[str, Any]:
    """Write the weights to ``path`` and the metadata (with the weights' hash) next to it.

    Each file is written whole or not at all (a temporary file renamed into place). Returns
    the metadata as written.
    """
    path = pathlib.Path(path)
    check_output(path)
    state = {k: v.detach().contiguous().cpu() for k, v in heads.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        blob = save(state)
        write_cache_file(path, lambda f: f.write(blob))
    else:
        write_cache_file(path, lambda f: torch.save(state, f))
    meta = {"format": FORMAT, **metadata, **heads.config, "weights_file": path.name, "weights_sha256": file_sha256(path)}
    text = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_cache_file(metadata_path(path), lambda f: f.write(text))
    return meta


def load_heads(path: str | os.PathLike[str]) -> tuple[ProjectionHeads, dict[str, Any]]:
    """Read heads saved by :func:`save_heads`; checks the format and the weights' hash."""
    path = pathlib.Path(path)
    meta_file = metadata_path(path)
    for file in (path, meta_file):
        if not file.is_file():
            raise WeightsNotFoundError(
                f"projection heads: {file} does not exist; train heads with "
                "`vertex-mm train-projection IMAGES_DIR --captions captions.jsonl --out heads.pt`"
            )
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise InputError(f"{meta_file}: not projection-heads metadata (format {meta.get('format')!r}, expected {FORMAT!r})",
                         input_name=str(meta_file))
    digest = file_sha256(path)
    if digest != meta.get("weights_sha256"):
        raise InputError(
            f"{path}: weights hash {digest[:12]}... differs from {meta_file} ({str(meta.get('weights_sha256'))[:12]}...); "
            "the metadata belongs to other weights",
            input_name=str(path),
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    from .losses import make_loss

    loss = make_loss(meta["loss"]) if meta.get("loss") else None
    heads = ProjectionHeads(meta["image_in_dim"], meta["text_in_dim"], meta["dim"], meta["head"], meta.get("hidden_dim"),
                            loss=loss)
    heads.load_state_dict(state)
    return heads.eval(), meta
