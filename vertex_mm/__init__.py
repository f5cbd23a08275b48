"""vertex-mm: image and multimodal embeddings on Google Cloud, with an offline local backend.

>>> from vertex_mm import get_embedder, Image
>>> emb = get_embedder("local")
>>> r = emb.get_embeddings(image=Image.load_from_file("cat.jpg"), contextual_text="a cat", dimension=512)

Importing this package never imports torch; backends load on first use.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .batch import BatchInterrupted, EmbeddingCache, RateLimiter, RetryPolicy
from .content import TASKS, Task
from .embedder import BaseEmbedder, Embedder
from .errors import (
    APIError,
    BatchError,
    EmbeddingSpaceMismatchError,
    InputError,
    MissingDependencyError,
    QuotaExceededError,
    TransportError,
    VertexMMError,
)
from .jobs import run_job
from .limits import ModelLimits, limits_for
from .media import Audio, Document, Image, Video, VideoSegmentConfig
from .registry import get_embedder, list_backends, register_backend
from .results import Embeddings, EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding
from .wire import EmbedRequest

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "Audio",
    "BaseEmbedder",
    "BatchError",
    "BatchInterrupted",
    "Document",
    "EmbedRequest",
    "Embedder",
    "EmbeddingSpace",
    "EmbeddingSpaceMismatchError",
    "EmbeddingCache",
    "Embeddings",
    "GeminiEmbedder",
    "Image",
    "InputError",
    "MissingDependencyError",
    "ModelLimits",
    "MultiModalEmbeddingModel",
    "MultiModalEmbeddingResponse",
    "QuotaExceededError",
    "RateLimiter",
    "RetryPolicy",
    "TASKS",
    "Task",
    "TransportError",
    "VertexEmbedder",
    "VertexMMError",
    "Video",
    "VideoEmbedding",
    "VideoSegmentConfig",
    "errors",
    "get_embedder",
    "limits_for",
    "list_backends",
    "register_backend",
    "run_job",
]

# Names whose modules import the Google SDKs: resolved on first access (PEP 562).
_LAZY = {
    "MultiModalEmbeddingModel": "vertex_mm.vertex",
    "VertexEmbedder": "vertex_mm.vertex",
    "GeminiEmbedder": "vertex_mm.gemini",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vertex_mm' has no attribute {name!r}")
