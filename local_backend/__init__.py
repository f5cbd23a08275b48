"""The offline local backend of vertex-mm: ``get_embedder("local")``.

>>> from vertex_mm import get_embedder
>>> emb = get_embedder("local")                          # the joint default, offline
>>> emb = get_embedder("local", model="efficientnet-lite0", batch_size=64)

Models are named configs (``list_models()``; see :mod:`local_backend.models.registry`). The default,
``conse-effnet-minilm``, embeds images and text into one 384-d space by ConSE over
EfficientNet-Lite0 and all-MiniLM-L6-v2, projected to 128/256/512/1408 dimensions. It knows
the 1000 ImageNet concepts and nothing else: no OCR, no identities, no abstract concepts.

Importing this package does not import torch; creating a model does.
"""

from __future__ import annotations

from typing import Any

from .embedder import LocalEmbedder
from .models.registry import create_model, get_model_config, get_shared_model, list_models, register_model_config, require_kind

__all__ = [
    "LocalEmbedder",
    "create_local_embedder",
    "create_model",
    "get_model_config",
    "list_models",
    "register_model_config",
]

_EMBEDDER_OPTIONS = ("batch_size", "decode_workers", "projection_seed", "video_fps", "max_frames_per_segment")


def create_local_embedder(model: Any = "default", **options: Any) -> LocalEmbedder:
    """What ``vertex_mm.get_embedder("local", ...)`` calls.

    ``model`` is a registry name (``list_models()``) or a ready
    :class:`~local_backend.models.base.LocalModel`. Options ``batch_size``, ``decode_workers``,
    ``projection_seed``, ``video_fps`` and ``max_frames_per_segment`` configure the embedder;
    any other option overrides the model config's params (``top_k=5``, ``layer="logits"``...).
    Named models are shared per process, so several embedders hold one copy of the weights.
    """
    embedder_opts = {k: options.pop(k) for k in _EMBEDDER_OPTIONS if k in options}
    if isinstance(model, str):
        require_kind(model, "embedding", use='get_embedder("local")')  # page models serve page search only
    local_model = get_shared_model(model, **options) if isinstance(model, str) else model
    return LocalEmbedder(local_model, **embedder_opts)
