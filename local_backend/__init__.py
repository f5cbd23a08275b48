"""The offline local backend of vertex-mm: ``get_embedder("local")``.

>>> from vertex_mm import get_embedder
>>> emb = get_embedder("local")                          # the joint default, offline
>>> emb = get_embedder("local", model="efficientnet-lite0", batch_size=64)
>>> emb = get_embedder("local", device="cuda")           # a GPU; the CPU with a warning if none

Models are named configs (``list_models()``; see :mod:`local_backend.models.registry`). The default,
``conse-effnet-minilm``, embeds images and text into one space: ConSE over EfficientNet-Lite0
and all-MiniLM-L6-v2 (384-d), plus the CNN's own features in image vectors (a text leaves that
block at zero), projected to 128/256/512/1408 dimensions. It knows
the 1000 ImageNet concepts and nothing else: no OCR, no identities, no abstract concepts.

Importing this package does not import torch; creating a model does.
"""

from __future__ import annotations

from typing import Any

from vertex_mm.errors import InputError

from .device import check_device, resolve_device
from .embedder import LocalEmbedder
from .models.registry import (
    create_model,
    get_model_config,
    get_shared_model,
    list_models,
    model_takes_device,
    register_model_config,
    require_kind,
)

__all__ = [
    "LocalEmbedder",
    "create_local_embedder",
    "create_model",
    "get_model_config",
    "list_models",
    "register_model_config",
]

_EMBEDDER_OPTIONS = ("batch_size", "decode_workers", "projection_seed", "video_fps", "max_frames_per_segment")


def create_local_embedder(model: Any = "default", *, device: Any = "auto", **options: Any) -> LocalEmbedder:
    """What ``vertex_mm.get_embedder("local", ...)`` calls.

    ``device``: ``"auto"`` (the default: CUDA when torch sees a GPU, else the CPU), ``"cpu"``,
    ``"cuda"`` or ``"cuda:N"`` (the CPU, with a :class:`~local_backend.device.DeviceFallbackWarning`,
    when torch sees no GPU); anything else is an :class:`~vertex_mm.errors.InputError`. Vectors
    always come back as numpy on the CPU. A ready model object runs where it was built, so it
    takes only ``device="auto"``.

    ``model`` is a registry name (``list_models()``) or a ready
    :class:`~local_backend.models.base.LocalModel`. Options ``batch_size``, ``decode_workers``,
    ``projection_seed``, ``video_fps`` and ``max_frames_per_segment`` configure the embedder;
    any other option overrides the model config's params (``top_k=5``, ``layer="logits"``...).
    Named models are shared per process, so several embedders hold one copy of the weights.
    """
    name = check_device(device)  # a bad name fails before anything loads
    embedder_opts = {k: options.pop(k) for k in _EMBEDDER_OPTIONS if k in options}
    if not isinstance(model, str):
        if name != "auto":
            raise InputError(f"device={device!r} applies to registry models; a ready model object runs where it "
                             "was built (move it first, then pass it with device='auto')", input_name="device")
        return LocalEmbedder(model, **embedder_opts)
    require_kind(model, "embedding", use='get_embedder("local")')  # page models serve page search only
    # Resolved here, once: "auto" and a fallen-back "cuda" share the CPU model instance.
    where = resolve_device(name, stacklevel=4)  # the warning points at get_embedder's caller
    if name != "auto" or model_takes_device(model):
        options["device"] = str(where)
    # (a factory without ``device`` that the user did not ask to move is built as it is: no
    # warning about a GPU nobody asked for)
    return LocalEmbedder(get_shared_model(model, **options), **embedder_opts)
