"""The Embedder interface every backend implements, and the base class that gives each
backend the whole interface from one narrow call, ``_predict(request)``.

A backend implements ``_predict`` (one validated :class:`EmbedRequest` in, one
:class:`MultiModalEmbeddingResponse` out) and may override ``_predict_many`` to batch
inference. Everything else (the vision_models call shape, input coercion, per-item errors,
ordering, the embedding space, with async twins) lives here once; how batch calls reach the
batch engine with its concurrency, rate limit, retries and cache is the mixin
:class:`~vertex_mm.batch.dispatch.BatchDispatch` (:mod:`vertex_mm.batch`).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .batch.dispatch import BatchDispatch
from .columns import Column, ErrorMode, ItemResult, as_batch, assemble, coerce_input
from .content import Task, as_parts, resolve_task, warn_file_name_strings
from .errors import InputError, UnsupportedInputError, VertexMMError
from .limits import MULTIMODAL_EMBEDDING_001, ModelLimits, check_dimension
from .media import Image, Video, VideoSegmentConfig, as_image, as_video
from .results import Embeddings, EmbeddingSpace, MultiModalEmbeddingResponse
from .wire import EmbedRequest

__all__ = ["BaseEmbedder", "Embedder", "ErrorMode", "ItemResult"]

#: The keys of a dict request (embed_many): BaseEmbedder.build_request's parameters.
_REQUEST_KEYS = ("image", "video", "contextual_text", "dimension", "video_segment_config", "key")


@runtime_checkable
class Embedder(Protocol):
    """What code written against vertex-mm may rely on, whatever the backend."""

    backend: str
    model: str

    def space(self, dimension: int | None = None) -> EmbeddingSpace: ...

    def get_embeddings(
        self,
        image: Image | None = None,
        video: Video | None = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse: ...

    def embed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                     errors: ErrorMode = "raise") -> Embeddings: ...

    def embed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                    errors: ErrorMode = "raise") -> Embeddings: ...

    def embed_many(self, requests: Iterable[EmbedRequest], *, progress: bool = False) -> list[ItemResult]: ...

    async def aembed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                            errors: ErrorMode = "raise") -> Embeddings: ...

    async def aembed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                           errors: ErrorMode = "raise") -> Embeddings: ...

    async def aembed_many(self, requests: Iterable[EmbedRequest], *, progress: bool = False) -> list[ItemResult]: ...

    def embed_content(self, content: Any, *, dimension: int | None = None, task: str | None = None,
                      task_instruction: str | None = None, title: str | None = None) -> np.ndarray: ...

    def embed_contents(self, contents: Iterable[Any], *, dimension: int | None = None, task: str | None = None,
                       task_instruction: str | None = None, progress: bool = False,
                       errors: ErrorMode = "raise") -> Embeddings: ...


class BaseEmbedder(BatchDispatch, abc.ABC):
    """Implements :class:`Embedder` on top of :meth:`_predict`.

    Batch calls (``embed_images``, ``embed_texts``, ``embed_many``, ``embed_stream`` and the
    ``a…`` coroutines) run through the batch engine configured by :meth:`configure_batch`
    (:class:`~vertex_mm.batch.dispatch.BatchDispatch`, which also holds the default
    ``_predict_many`` a batching backend overrides).
    """

    backend: str = "base"
    model: str = ""
    limits: ModelLimits = MULTIMODAL_EMBEDDING_001
    #: The limits that apply to contents (``embed_content``); None: this backend embeds no
    #: contents of several parts (see :meth:`build_content_request`).
    content_limits: ModelLimits | None = None
    #: Whether request building fully decodes images to catch corrupt files early. Backends
    #: that decode anyway (local) skip it; remote ones keep it to fail before the network.
    decode_check: bool = True
    #: Whether :meth:`get_embeddings` sends its image, video and text as one request, so the
    #: model's whole-request limit applies to their sum (Vertex @001's ``:predict``). Gemini
    #: sends each part alone and local backends send nothing: each part meets its own limit only.
    combined_request: bool = False

    # -- the one call a backend must provide ------------------------------------------
    @abc.abstractmethod
    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        """Embed one validated request. Raise only :class:`VertexMMError` subclasses."""

    # -- public interface ----------------------------------------------------------------
    def space(self, dimension: int | None = None) -> EmbeddingSpace:
        """The space of :meth:`get_embeddings`, :meth:`embed_images` and :meth:`embed_texts`."""
        dim = check_dimension(dimension, self.limits)
        return EmbeddingSpace(self.backend, self.model, dim, self._space_variant(dim))

    def content_space(self, dimension: int | None = None, *, task: str | Task | None = None,
                      task_instruction: str | None = None) -> EmbeddingSpace:
        """The space of :meth:`embed_content` / :meth:`embed_contents` vectors; it records the
        task (which does not separate spaces: queries and documents meet in one)."""
        limits = self.content_limits or self.limits
        dim = check_dimension(dimension, limits)
        resolved = resolve_task(task, task_instruction)
        space = EmbeddingSpace(self.backend, self.model, dim, self._space_variant(dim))
        return space.with_task(resolved.name if resolved else None)

    def _space_variant(self, dimension: int) -> str:
        return ""

    def build_request(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
        *,
        key: str | None = None,
    ) -> EmbedRequest:
        """Coerce and validate one request (raises a typed :class:`InputError`)."""
        return EmbedRequest.create(
            image=coerce_input(as_image, image, "image"),
            video=coerce_input(as_video, video, "video"),
            contextual_text=contextual_text,
            dimension=dimension,
            video_segment_config=video_segment_config,
            limits=self.limits,
            key=key,
            decode_check=self.decode_check,
            check_size=self.combined_request,
        )

    def get_embeddings(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse:
        """The ``vertexai.vision_models.MultiModalEmbeddingModel.get_embeddings`` call shape,
        sent at once. Vertex and local backends make one attempt (batch calls add rate
        limiting and retries); gemini, whose one input may take several requests (an image and
        a text, a video's segments), sends each under the rate limit and the retry policy, so
        that one refused request does not throw away those done (``retry="none"``: one attempt)."""
        return self._predict(self.build_request(image, video, contextual_text, dimension, video_segment_config))

    def embed_many(self, requests: Iterable[EmbedRequest | dict[str, Any] | VertexMMError], *,
                   progress: bool = False) -> list[ItemResult]:
        """One result or one typed error per request, in input order. Dict requests take the
        ``get_embeddings`` keyword names; invalid ones become per-item errors, and an error
        given in place of a request (a request that could not be built) is that item's result."""
        requests = as_batch(requests, call="embed_many", what="requests")
        return self._stream_list(requests, self._request_of, progress)

    def embed_images(
        self,
        images: Iterable[Any],
        *,
        dimension: int | None = None,
        progress: bool = False,
        errors: ErrorMode = "raise",
    ) -> Embeddings:
        """Embed images (paths, gs:// URIs, bytes or Image) into an (n, dimension) float32 array.

        Every input is tried. With ``errors="raise"`` a :class:`~vertex_mm.errors.BatchError`
        carrying all finished vectors is raised at the end if any failed; with
        ``errors="collect"`` failed rows are NaN and ``result.errors[i]`` says why. Ctrl-C
        raises :class:`~vertex_mm.batch.BatchInterrupted` whose ``result`` holds the vectors
        finished so far.
        """
        images = as_batch(images, call="embed_images", what="images")
        return self._embed_column(images, self._image_column(dimension), progress, errors)

    def embed_texts(
        self,
        texts: Iterable[str],
        *,
        dimension: int | None = None,
        progress: bool = False,
        errors: ErrorMode = "raise",
    ) -> Embeddings:
        """Embed texts; same contract as :meth:`embed_images`."""
        texts = as_batch(texts, call="embed_texts", what="texts")
        return self._embed_column(texts, self._text_column(dimension), progress, errors)

    # -- contents (gemini-embedding-2's shape: ordered parts, one vector) ---------------------
    def build_content_request(self, content: Any, *, dimension: int | None = None, task: str | Task | None = None,
                              task_instruction: str | None = None, title: str | None = None,
                              key: str | None = None, audio_track_extraction: bool = False) -> EmbedRequest:
        """Coerce and validate one content (a part or a list of parts, see
        :mod:`vertex_mm.content`) into a request; raises a typed :class:`InputError`."""
        if self.content_limits is None:
            raise UnsupportedInputError(
                f"the {self.backend} backend ({self.model}) does not embed contents; use get_embedder('gemini') "
                "or get_embedder('local')", input_name="content")
        return EmbedRequest.create_content(
            as_parts(content), limits=self.content_limits, dimension=dimension,
            task=resolve_task(task, task_instruction), title=title, key=key, decode_check=self.decode_check,
            audio_track_extraction=audio_track_extraction)

    def embed_content(self, content: Any, *, dimension: int | None = None, task: str | Task | None = None,
                      task_instruction: str | None = None, title: str | None = None) -> np.ndarray:
        """ONE float32 unit vector for one content: all its parts (text, images, a PDF, a
        video, an audio clip, in order) together. ``task`` is a preset of
        :data:`vertex_mm.content.TASKS` (``retrieval_query``, ``retrieval_document``...),
        ``task_instruction`` a free-form one, ``title`` the document title of
        ``retrieval_document``. Sent at once: one attempt on the local backend; gemini's
        request is rate limited and retried under the embedder's policy (``retry="none"``: one
        attempt; ``asyncio.wait_for`` around :meth:`aembed_content` stops its retries)."""
        warn_file_name_strings(content if isinstance(content, (list, tuple)) else [content], call="embed_content")
        request = self.build_content_request(content, dimension=dimension, task=task,
                                             task_instruction=task_instruction, title=title)
        row = assemble([self._predict(request)], "content", self.content_space(request.dimension),
                       "raise")
        return np.asarray(row[0], dtype=np.float32)

    def embed_contents(self, contents: Iterable[Any], *, dimension: int | None = None, task: str | Task | None = None,
                       task_instruction: str | None = None, progress: bool = False,
                       errors: ErrorMode = "raise") -> Embeddings:
        """One vector per content, in input order: each item of ``contents`` is one content
        (a part, or a list of parts), sent on its own, never merged with another: a list of
        strings gives one vector per string. Same contract as :meth:`embed_images`."""
        contents = as_batch(contents, call="embed_contents", what="contents")
        warn_file_name_strings(contents)
        return self._embed_column(contents, self._content_column(dimension, task, task_instruction), progress, errors)

    # -- async twins -------------------------------------------------------------------------
    async def aget_embeddings(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse:
        """The coroutine form of :meth:`get_embeddings`."""
        return await self._apredict(self.build_request(image, video, contextual_text, dimension, video_segment_config))

    async def aembed_many(self, requests: Iterable[EmbedRequest | dict[str, Any] | VertexMMError], *,
                          progress: bool = False) -> list[ItemResult]:
        """The coroutine form of :meth:`embed_many`."""
        requests = as_batch(requests, call="aembed_many", what="requests")
        return await self._astream_list(requests, self._request_of, progress)

    async def aembed_images(self, images: Iterable[Any], *, dimension: int | None = None, progress: bool = False,
                            errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_images`."""
        images = as_batch(images, call="aembed_images", what="images")
        return await self._aembed_column(images, self._image_column(dimension), progress, errors)

    async def aembed_texts(self, texts: Iterable[str], *, dimension: int | None = None, progress: bool = False,
                           errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_texts`."""
        texts = as_batch(texts, call="aembed_texts", what="texts")
        return await self._aembed_column(texts, self._text_column(dimension), progress, errors)

    async def aembed_content(self, content: Any, *, dimension: int | None = None, task: str | Task | None = None,
                             task_instruction: str | None = None, title: str | None = None) -> np.ndarray:
        """The coroutine form of :meth:`embed_content`."""
        warn_file_name_strings(content if isinstance(content, (list, tuple)) else [content], call="aembed_content")
        request = self.build_content_request(content, dimension=dimension, task=task,
                                             task_instruction=task_instruction, title=title)
        row = assemble([await self._apredict(request)], "content", self.content_space(request.dimension), "raise")
        return np.asarray(row[0], dtype=np.float32)

    async def aembed_contents(self, contents: Iterable[Any], *, dimension: int | None = None,
                              task: str | Task | None = None, task_instruction: str | None = None,
                              progress: bool = False, errors: ErrorMode = "raise") -> Embeddings:
        """The coroutine form of :meth:`embed_contents`."""
        contents = as_batch(contents, call="aembed_contents", what="contents")
        warn_file_name_strings(contents, call="aembed_contents")
        column = self._content_column(dimension, task, task_instruction)
        return await self._aembed_column(contents, column, progress, errors)

    # -- helpers -----------------------------------------------------------------------------
    def _request_of(self, r: EmbedRequest | dict[str, Any] | VertexMMError) -> EmbedRequest:
        """One item of ``embed_many``'s list as a request; an error given in its place is raised
        (it becomes that item's result)."""
        if isinstance(r, VertexMMError):
            raise r
        return r if isinstance(r, EmbedRequest) else self._request_from_dict(r)

    def _request_from_dict(self, r: Any) -> EmbedRequest:
        """A dict request (``get_embeddings``' keyword names) built, or an :class:`InputError`
        naming what is wrong with it: a misspelt key was a TypeError, reported as a backend
        failure by ``embed_many`` and failing ``aembed_many`` whole."""
        if not isinstance(r, Mapping):
            raise InputError(f"a request must be a dict of get_embeddings' keywords or an EmbedRequest, got "
                             f"{type(r).__name__}", input_name="requests")
        unknown = sorted(str(k) for k in r if k not in _REQUEST_KEYS)
        if unknown:
            raise InputError(f"a request has unknown field(s) {unknown}; allowed: {', '.join(_REQUEST_KEYS)}",
                             input_name="requests")
        return self.build_request(**r)

    def _image_column(self, dimension: int | None) -> Column:
        space = self.space(dimension)
        return Column("image", space, lambda item, key: self.build_request(image=item, dimension=space.dimension, key=key))

    def _text_column(self, dimension: int | None) -> Column:
        space = self.space(dimension)
        return Column("text", space,
                      lambda item, key: self.build_request(contextual_text=item, dimension=space.dimension, key=key))

    def _content_column(self, dimension: int | None, task: str | Task | None, task_instruction: str | None) -> Column:
        resolved = resolve_task(task, task_instruction)
        space = self.content_space(dimension, task=resolved)
        return Column("content", space, lambda item, key: self.build_content_request(
            item, dimension=space.dimension, task=resolved, key=key))

    def close(self) -> None:
        """Release connections, models and the batch thread pool. Safe to call twice.
        Subclasses that override it call ``super().close()``."""
        self._close_batch_engine()

    def __enter__(self) -> "BaseEmbedder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, model={self.model!r})"


