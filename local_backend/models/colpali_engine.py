"""Real ColPali-family checkpoints (ColPali, ColQwen2, ColQwen2.5, ColSmol/ColIdefics3) through
colpali-engine, loaded from a local folder only (registry name ``colpali-engine``; the page
retriever spec ``colpali-engine:DIR`` reaches it; ``colpali:DIR`` is the native loader,
:mod:`local_backend.models.colpali`).

>>> emb = ColPaliEmbedder.from_pretrained("/models/colqwen2-v1.0-merged")   # doctest: +SKIP
>>> pages = emb.embed_pages(images)        # one (n_i, 128) float32 array per page
>>> queries = emb.embed_queries(["revenue by quarter"])

colpali-engine is optional and outside every extra (``pip install colpali-engine`` next to a
torch that has a matching torchvision; see DESIGN.md on why it does not import here). Nothing
is downloaded: ``local_files_only=True`` everywhere, and a
missing folder raises :class:`~vertex_mm.errors.WeightsNotFoundError` naming it. The folder
must hold a merged checkpoint (model weights, ``config.json`` and the processor files); an
adapter-only folder (``adapter_config.json`` without base weights) needs its base model,
which is not fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vertex_mm._optional import require
from vertex_mm.errors import InvalidTextError, WeightsNotFoundError
from vertex_mm.results import EmbeddingSpace

from ..device import resolve_device
from .hf_checkpoints import Checkpoint, hash_file_ends
from .page_pixels import page_rgb
from .vit import checkpoint_fingerprint

__all__ = ["FAMILIES", "ColPaliEmbedder", "create_colpali_engine", "detect_family"]

#: family -> (model class, processor class) names in ``colpali_engine.models``.
FAMILIES: dict[str, tuple[str, str]] = {
    "colpali": ("ColPali", "ColPaliProcessor"),
    "colqwen2": ("ColQwen2", "ColQwen2Processor"),
    "colqwen2_5": ("ColQwen2_5", "ColQwen2_5_Processor"),
    "colidefics3": ("ColIdefics3", "ColIdefics3Processor"),  # ColSmol
}

_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")

# config.json "model_type" / "architectures" hints -> family.
_HINTS = (
    ("colqwen2_5", ("qwen2_5_vl", "colqwen2_5")),
    ("colqwen2", ("qwen2_vl", "colqwen2")),
    ("colidefics3", ("idefics3", "colidefics3", "colsmol")),
    ("colpali", ("paligemma", "colpali")),
)


def detect_family(folder: str | os.PathLike[str]) -> str:
    """Which colpali-engine class loads ``folder``, from its ``config.json``."""
    cfg_path = Path(folder) / "config.json"
    if not cfg_path.is_file():
        raise WeightsNotFoundError(f"{cfg_path} not found: {folder} is not a ColPali-family checkpoint folder")
    cfg = json.loads(cfg_path.read_text())
    text = " ".join([str(cfg.get("model_type", ""))] + [str(a) for a in cfg.get("architectures", [])]).lower()
    for family, hints in _HINTS:
        if any(h in text for h in hints):
            return family
    raise WeightsNotFoundError(f"{cfg_path}: model_type {cfg.get('model_type')!r} is not one of {sorted(FAMILIES)}; pass family=")


def engine_fingerprint(folder: Path) -> str:
    """A short id of the checkpoint's files, for the space (as the native ColPali loader has):
    config.json and the weights (:func:`~local_backend.models.vit.checkpoint_fingerprint`), plus
    the adapter's own files where the folder is a PEFT adapter over a base model."""
    base = checkpoint_fingerprint(Checkpoint(folder, {}, str(folder)))
    adapters = [folder / n for n in _ADAPTER_FILES if (folder / n).is_file()]
    if not adapters:
        return base
    h = hashlib.sha256(base.encode())
    for file in adapters:
        hash_file_ends(h, file, file.name)
    return h.hexdigest()[:12]


def _colpali_models() -> Any:
    # colpali_engine.models imports transformers' vision stack, which needs a matching torchvision.
    return require("pkg:colpali-engine", "colpali_engine.models", what="ColPali checkpoints")


class ColPaliEmbedder:
    """:class:`~vertex_mm.pages.MultiVectorEmbedder` over a colpali-engine model and processor."""

    description = "ColPali-family page-image vectors (colpali-engine)"

    def __init__(self, model: Any, processor: Any, *, name: str, batch_size: int = 4, device: Any = "cpu",
                 space_name: str | None = None) -> None:
        self.model = model.eval()
        self.processor = processor
        self.batch_size = batch_size
        self.device = device
        self.name = name
        dim = int(getattr(model, "dim", 128))
        # space_name carries the weights' fingerprint (from_pretrained): the folder name alone gave
        # /models/v1/colqwen2-merged and /models/v2/colqwen2-merged one space.
        self.space = EmbeddingSpace("colpali", space_name or name, dim)

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike[str],
        *,
        family: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 4,
    ) -> "ColPaliEmbedder":
        """Load model and processor from ``folder`` (never from the network)."""
        path = Path(folder)
        if not path.is_dir():
            raise WeightsNotFoundError(
                f"ColPali checkpoint folder {str(path)!r} does not exist; copy a merged checkpoint "
                "(config.json, weights, processor files) there, e.g. with `huggingface-cli download` on a machine with access"
            )
        family = family or detect_family(path)
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
        models = _colpali_models()
        import torch

        where = resolve_device(device)  # "cuda" without a GPU: the CPU, with a DeviceFallbackWarning
        model_cls, proc_cls = (getattr(models, n) for n in FAMILIES[family])
        model = model_cls.from_pretrained(str(path), torch_dtype=getattr(torch, dtype), local_files_only=True).to(where)
        processor = proc_cls.from_pretrained(str(path), local_files_only=True)
        return cls(model, processor, name=f"{family}:{path.name}", batch_size=batch_size, device=where,
                   space_name=f"{family}-{engine_fingerprint(path)}")

    def _run(self, batch: Any) -> list[np.ndarray]:
        import torch

        batch = batch.to(self.device)
        with torch.inference_mode():
            out = self.model(**batch)  # (B, tokens, dim), L2-normalised, zero where masked
        mask = batch["attention_mask"].bool()
        return [o[m].float().cpu().numpy() for o, m in zip(out, mask)]

    def embed_pages(self, images: Sequence[Any]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        pil = [page_rgb(im, i) for i, im in enumerate(images)]
        for i in range(0, len(pil), self.batch_size):
            out.extend(self._run(self.processor.process_images(pil[i : i + self.batch_size])))
        return out

    def embed_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        for q in queries:
            if not isinstance(q, str) or not q.strip():
                raise InvalidTextError(f"query must be a non-empty string, got {q!r}", input_name="query")
        out: list[np.ndarray] = []
        for i in range(0, len(queries), self.batch_size):
            out.extend(self._run(self.processor.process_queries(list(queries[i : i + self.batch_size]))))
        return out


def create_colpali_engine(checkpoint: str | os.PathLike[str] | None = None, **options: Any) -> ColPaliEmbedder:
    """The registry's factory for ``colpali-engine``: ``checkpoint`` is the local folder."""
    if checkpoint is None:
        raise WeightsNotFoundError("colpali-engine needs a checkpoint folder: use the spec colpali-engine:DIR")
    return ColPaliEmbedder.from_pretrained(checkpoint, **options)
