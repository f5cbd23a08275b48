"""The Embedder interface every backend implements, and the base class that gives each
backend the whole interface from one narrow call, ``_predict(request)``.

A backend implements ``_predict`` (one validated :class:`EmbedRequest` in, one
:class:`MultiModalEmbeddingResponse` out) and may override ``_predict_many`` to batch or run
concurrently. Everything else (the vision_models call shape, input coercion, per-item errors,
ordering, the embedding space) lives here once.
"""

from __future__ import annotations

import abc
import os
from typing import Any, Callable, Iterable, Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import InputError, InvalidImageError, VertexMMError
from .limits import MULTIMODAL_EMBEDDING_001, ModelLimits, check_dimension
from .media import Image, Video, VideoSegmentConfig, as_image, as_video
from .results import EmbeddingSpace, Embeddings, MultiModalEmbeddingResponse
from .wire import EmbedRequest

__all__ = ["BaseEmbedder", "Embedder", "ErrorMode", "ItemResult"]

ErrorMode = Literal["raise", "collect"]
ItemResult = MultiModalEmbeddingResponse | VertexMMError


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


class BaseEmbedder(abc.ABC):
    """Implements :class:`Embedder` on top of :meth:`_predict`."""

    backend: str = "base"
    model: str = ""
    limits: ModelLimits = MULTIMODAL_EMBEDDING_001
    #: Whether request building fully decodes images to catch corrupt files early. Backends
    #: that decode anyway (local) skip it; remote ones keep it to fail before the network.
    decode_check: bool = True

    # -- the one call a backend must provide ------------------------------------------
    @abc.abstractmethod
    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        """Embed one validated request. Raise only :class:`VertexMMError` subclasses."""

    def _predict_many(
        self, requests: Sequence[EmbedRequest], *, progress: bool = False
    ) -> list[ItemResult]:
        """Embed many requests, in order, one result or one error each. Backends override this
        to batch (local models) or to run concurrently under a rate limit (remote APIs)."""
        out: list[ItemResult] = []
        bar = _progress_bar(len(requests), progress, f"{self.backend} embed")
        try:
            for req in requests:
                try:
                    out.append(self._predict(req))
                except VertexMMError as exc:
                    out.append(exc)
                bar.update(1)
        finally:
            bar.close()
        return out

    # -- public interface ----------------------------------------------------------------
    def space(self, dimension: int | None = None) -> EmbeddingSpace:
        dim = check_dimension(dimension, self.limits)
        return EmbeddingSpace(self.backend, self.model, dim, self._space_variant(dim))

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
            image=_coerce(as_image, image, "image"),
            video=_coerce(as_video, video, "video"),
            contextual_text=contextual_text,
            dimension=dimension,
            video_segment_config=video_segment_config,
            limits=self.limits,
            key=key,
            decode_check=self.decode_check,
        )

    def get_embeddings(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
    ) -> MultiModalEmbeddingResponse:
        """The ``vertexai.vision_models.MultiModalEmbeddingModel.get_embeddings`` call shape."""
        return self._predict(self.build_request(image, video, contextual_text, dimension, video_segment_config))

    def embed_many(self, requests: Iterable[EmbedRequest | dict[str, Any]], *, progress: bool = False) -> list[ItemResult]:
        """One result or one typed error per request, in input order. Dict requests take the
        ``get_embeddings`` keyword names; invalid ones become per-item errors."""
        built: list[EmbedRequest | VertexMMError] = []
        for r in requests:
            if isinstance(r, EmbedRequest):
                built.append(r)
            else:
                try:
                    built.append(self.build_request(**r))
                except VertexMMError as exc:
                    built.append(exc)
        return self._run(built, progress=progress)

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
        ``errors="collect"`` failed rows are NaN and ``result.errors[i]`` says why.
        """
        return self._embed_column(images, "image", dimension, progress, errors)

    def embed_texts(
        self,
        texts: Iterable[str],
        *,
        dimension: int | None = None,
        progress: bool = False,
        errors: ErrorMode = "raise",
    ) -> Embeddings:
        """Embed texts; same contract as :meth:`embed_images`."""
        return self._embed_column(texts, "text", dimension, progress, errors)

    # -- helpers -----------------------------------------------------------------------------
    def _embed_column(self, items: Iterable[Any], kind: str, dimension: int | None, progress: bool, errors: ErrorMode) -> Embeddings:
        if errors not in ("raise", "collect"):
            raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
        space = self.space(dimension)
        built: list[EmbedRequest | VertexMMError] = []
        for i, item in enumerate(items):
            try:
                if kind == "image":
                    built.append(self.build_request(image=item, dimension=space.dimension, key=str(i)))
                else:
                    built.append(self.build_request(contextual_text=item, dimension=space.dimension, key=str(i)))
            except VertexMMError as exc:
                built.append(exc)
        results = self._run(built, progress=progress)
        vecs = np.full((len(results), space.dimension), np.nan, dtype=np.float32)
        errs: list[VertexMMError | None] = []
        for i, res in enumerate(results):
            if isinstance(res, VertexMMError):
                errs.append(res)
                continue
            vec = res.image_embedding if kind == "image" else res.text_embedding
            vecs[i] = vec
            errs.append(None)
        out = Embeddings(vecs, space, errs)
        return out.raise_for_errors() if errors == "raise" else out

    def _run(self, built: list[EmbedRequest | VertexMMError], *, progress: bool) -> list[ItemResult]:
        todo = [r for r in built if isinstance(r, EmbedRequest)]
        done = iter(self._predict_many(todo, progress=progress) if todo else [])
        return [next(done) if isinstance(r, EmbedRequest) else r for r in built]

    def close(self) -> None:
        """Release connections and models. Safe to call twice."""

    def __enter__(self) -> "BaseEmbedder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, model={self.model!r})"


def _coerce(fn: Callable[[Any], Any], x: Any, what: str) -> Any:
    if x is None:
        return None
    try:
        return fn(x)
    except VertexMMError:
        raise
    except (OSError, TypeError) as exc:
        name = os.fspath(x) if isinstance(x, (str, os.PathLike)) else type(x).__name__
        cls = InvalidImageError if what == "image" else InputError
        raise cls(f"{name}: cannot read {what}: {exc}", input_name=str(name)) from exc


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", dynamic_ncols=True)
