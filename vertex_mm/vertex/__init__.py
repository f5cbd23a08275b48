"""The Vertex AI backend: multimodalembedding@001 over the generated PredictionServiceClient."""

from ..google_api import translate_error
from .client import VertexEmbedder
from .facade import MultiModalEmbeddingModel
from .transport import GapicTransport, PredictTransport, VertexTarget

__all__ = [
    "GapicTransport",
    "MultiModalEmbeddingModel",
    "PredictTransport",
    "VertexEmbedder",
    "VertexTarget",
    "translate_error",
]
