"""A drop-in for the deprecated ``vertexai.vision_models.MultiModalEmbeddingModel``.

Same call shape, built on :class:`VertexEmbedder` (the generated gapic client), so code written
for vision_models outlives that module::

    from vertex_mm import MultiModalEmbeddingModel, Image
    model = MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001")
    r = model.get_embeddings(image=Image.load_from_file("cat.jpg"), contextual_text="a cat")
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

from ..embedder import BaseEmbedder
from ..errors import NotFoundError, VertexMMError
from ..media import VideoSegmentConfig
from ..results import MultiModalEmbeddingResponse
from .sdk_errors import as_sdk_error

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


#: Model id -> the backend that serves it, when ``from_pretrained`` is given no ``backend``.
_BACKEND_OF_MODEL = {"multimodalembedding@001": "vertex", "multimodalembedding": "vertex",
                     "gemini-embedding-2": "gemini", "gemini-embedding-2-preview": "gemini"}


def _backend_for(name: str) -> str:
    """The backend of a model id; an unknown id is :class:`~vertex_mm.errors.NotFoundError`, as
    vision_models answers ``NotFound`` (the drop-in makes it one) for a model it cannot load."""
    try:
        return _BACKEND_OF_MODEL[name]
    except KeyError:
        raise NotFoundError(f"model_name {name!r} is not a model the drop-in serves: use one of "
                            f"{', '.join(map(repr, _BACKEND_OF_MODEL))} (a 'publishers/google/models/...' path too), "
                            "or pass backend='local' for the offline one", status="NOT_FOUND") from None


def _gemini_location(location: str) -> str:
    """The gemini-embedding-2 location for a ``vertexai.init(location=...)`` region: the model is
    served from ``global`` and the ``us`` / ``eu`` multi-regions, not from single regions, so a
    ``us-*`` region becomes ``us`` and a ``europe-*`` one ``eu`` (the data stays in that
    geography), any other ``global``; said once per call with a warning."""
    from ..gemini import LOCATIONS

    if location in LOCATIONS:
        return location
    mapped = "us" if location.startswith("us-") else "eu" if location.startswith("europe-") else "global"
    warnings.warn(f"vertexai.init(location={location!r}): gemini-embedding-2 is served from 'global' and the 'us' / "
                  f"'eu' multi-regions, not from single regions; using {mapped!r}. Pass location=... to "
                  "from_pretrained to choose", UserWarning, stacklevel=4)
    return mapped


def _init_options_for(backend: str, given: dict[str, Any]) -> dict[str, Any]:
    """The ``vertexai.init`` settings the backend takes that ``given`` options do not set (the
    gemini backend has no transport choice, and takes the region as :func:`_gemini_location`
    maps it)."""
    found = {k: v for k, v in _vertexai_init_options().items() if k not in given}
    if backend == "gemini":
        if given.get("base_url"):  # google-genai's name of api_endpoint
            found.pop("api_endpoint", None)
        if given.get("api_key"):  # express mode: no project, no credentials
            found.pop("project", None)
            found.pop("credentials", None)
        found.pop("transport", None)
        if "location" in found:
            found["location"] = _gemini_location(found["location"])
    return found


class MultiModalEmbeddingModel:
    """``from_pretrained(model_name, **options)`` then ``get_embeddings(...)``.

    ``model_name`` picks the backend when ``backend`` is not given: ``multimodalembedding@001``
    the vertex one, ``gemini-embedding-2`` (and its preview id, a ``publishers/google/models/``
    path too) the gemini one; any other id is a ``NotFound`` listing the ids, as the SDK's.
    ``options`` go to :func:`vertex_mm.get_embedder` (``project``, ``location``,
    ``api_endpoint``, ``credentials``, ``transport``); those not given come from
    ``vertexai.init(...)`` when the program called it (on both remote backends; for gemini a
    single region becomes the ``us`` / ``eu`` multi-region or ``global``, with a warning), and
    the location then from ``GOOGLE_CLOUD_REGION`` or ``CLOUD_ML_REGION`` (read by the vertex
    backend itself), as with vision_models. ``backend="local"`` gives the same object on the
    offline backend. Images and videos may be ``vertex_mm`` or ``vertexai`` objects.

    Errors are those the SDK raises and vertex-mm's at once: a 503 is both a
    ``google.api_core.exceptions.ServiceUnavailable`` and a
    :class:`~vertex_mm.errors.ServiceUnavailableError`, a bad dimension both an
    ``InvalidArgument`` (a ``BadRequest``) and an :class:`~vertex_mm.errors.InvalidDimensionError`
    (a ``ValueError``): :mod:`vertex_mm.vertex.sdk_errors`. The embedder itself (``.embedder``)
    raises vertex-mm's errors only.
    """

    def __init__(self, embedder: BaseEmbedder) -> None:
        self._embedder = embedder

    @classmethod
    def from_pretrained(cls, model_name: str = "multimodalembedding@001", *, backend: str | None = None,
                        **options: Any) -> "MultiModalEmbeddingModel":
        from ..registry import get_embedder

        try:
            name = model_name.split("/")[-1]
            if backend is None:
                backend = _backend_for(name)
            if backend in ("vertex", "gemini"):
                # backend="gemini" with a vertex id (the default one) keeps gemini's own model.
                if backend == "vertex" or _BACKEND_OF_MODEL.get(name) == "gemini":
                    options.setdefault("model", name)
                options.update(_init_options_for(backend, options))
            return cls(get_embedder(backend, **options))
        except VertexMMError as exc:
            raise _sdk(exc) from exc.__cause__

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
        a ``video_segment_config`` without a video is ignored, as the SDK ignores it; and
        ``dimension=0`` is the model's default, as the SDK sends no dimension for it."""
        try:
            return self._get_embeddings(image, video, contextual_text, dimension, video_segment_config)
        except VertexMMError as exc:
            raise _sdk(exc) from exc.__cause__

    def _get_embeddings(self, image: Any, video: Any, contextual_text: str | None, dimension: int | None,
                        video_segment_config: Any) -> MultiModalEmbeddingResponse:
        if isinstance(contextual_text, str) and not contextual_text:
            contextual_text = None
        if isinstance(dimension, (int, float)) and dimension == 0:
            dimension = None  # the SDK sends no dimension for 0 (``if dimension:``): the default
        if video is None:
            video_segment_config = None
        if video_segment_config is not None and not isinstance(video_segment_config, VideoSegmentConfig):
            c = video_segment_config  # a vertexai.vision_models.VideoSegmentConfig
            video_segment_config = VideoSegmentConfig(c.start_offset_sec, c.end_offset_sec, c.interval_sec)
        return self._embedder.get_embeddings(image=image, video=video, contextual_text=contextual_text,
                                             dimension=dimension, video_segment_config=video_segment_config)


def _sdk(exc: VertexMMError) -> BaseException:
    """``exc`` as the drop-in raises it (:func:`~vertex_mm.vertex.sdk_errors.as_sdk_error`),
    with its traceback."""
    return as_sdk_error(exc).with_traceback(exc.__traceback__)
