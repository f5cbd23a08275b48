"""A drop-in for the deprecated ``vertexai.vision_models.MultiModalEmbeddingModel``.

Same call shape, built on :class:`VertexEmbedder` (the generated gapic client), so code written
for vision_models outlives that module::

    from vertex_mm import MultiModalEmbeddingModel, Image
    model = MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001")
    r = model.get_embeddings(image=Image.load_from_file("cat.jpg"), contextual_text="a cat")
"""

from __future__ import annotations

import sys
from typing import Any

from ..embedder import BaseEmbedder
from ..media import VideoSegmentConfig
from ..results import MultiModalEmbeddingResponse

__all__ = ["MultiModalEmbeddingModel"]


#: ``vertexai.init`` settings (aiplatform's ``global_config`` attributes) -> VertexEmbedder options.
_INIT_OPTIONS = {"_project": "project", "_location": "location", "_credentials": "credentials",
                 "_api_endpoint": "api_endpoint", "_api_transport": "transport"}


def _vertexai_init_options() -> dict[str, Any]:
    """What ``vertexai.init(...)`` set in this process, read without importing vertexai (it is
    not a dependency): a program that called it before ``from_pretrained`` keeps its project,
    region, credentials and endpoint, as with vision_models."""
    initializer = sys.modules.get("google.cloud.aiplatform.initializer")
    config = getattr(initializer, "global_config", None)
    out: dict[str, Any] = {}
    for attr, option in _INIT_OPTIONS.items():
        value = getattr(config, attr, None)
        if value is not None and (option != "transport" or value in ("grpc", "rest")):
            out[option] = value
    return out


class MultiModalEmbeddingModel:
    """``from_pretrained(model_name, **options)`` then ``get_embeddings(...)``.

    ``options`` go to :func:`vertex_mm.get_embedder` (``project``, ``location``,
    ``api_endpoint``, ``credentials``, ``transport``); those not given come from
    ``vertexai.init(...)`` when the program called it, and the location then from
    ``GOOGLE_CLOUD_REGION`` or ``CLOUD_ML_REGION`` (read by the vertex backend itself), as with
    vision_models. ``backend="local"``
    gives the same object on the offline backend. Images and videos may be ``vertex_mm`` or
    ``vertexai`` objects.
    """

    def __init__(self, embedder: BaseEmbedder) -> None:
        self._embedder = embedder

    @classmethod
    def from_pretrained(cls, model_name: str = "multimodalembedding@001", *, backend: str = "vertex",
                        **options: Any) -> "MultiModalEmbeddingModel":
        from ..registry import get_embedder

        name = model_name.split("/")[-1]
        if backend == "vertex":
            options.setdefault("model", name)
            for option, value in _vertexai_init_options().items():
                options.setdefault(option, value)
        return cls(get_embedder(backend, **options))

    @property
    def embedder(self) -> BaseEmbedder:
        return self._embedder

    def get_embeddings(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | Any = None,
    ) -> MultiModalEmbeddingResponse:
        """As vision_models: an empty ``contextual_text`` is no text (the SDK tests it for
        truth), so ``image=..., contextual_text=""`` embeds the image alone, and ``""`` alone is
        the ``ValueError`` (:class:`~vertex_mm.errors.InputError`) "One of ... is required";
        a ``video_segment_config`` without a video is ignored, as the SDK ignores it."""
        if isinstance(contextual_text, str) and not contextual_text:
            contextual_text = None
        if video is None:
            video_segment_config = None
        if video_segment_config is not None and not isinstance(video_segment_config, VideoSegmentConfig):
            c = video_segment_config  # a vertexai.vision_models.VideoSegmentConfig
            video_segment_config = VideoSegmentConfig(c.start_offset_sec, c.end_offset_sec, c.interval_sec)
        return self._embedder.get_embeddings(
            image=image,
            video=video,
            contextual_text=contextual_text,
            dimension=dimension,
            video_segment_config=video_segment_config,
        )
