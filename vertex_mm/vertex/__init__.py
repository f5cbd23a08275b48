"""The Vertex AI backend: multimodalembedding@001 over the generated PredictionServiceClient."""

from .client import VertexEmbedder
from .facade import MultiModalEmbeddingModel
from .transport import PredictTransport, VertexTarget, translate_error

__all__ = ["MultiModalEmbeddingModel", "PredictTransport", "VertexEmbedder", "VertexTarget", "translate_error"]
