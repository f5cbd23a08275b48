"""``GeminiEmbedder``: ``gemini-embedding-2`` on Vertex AI through google-genai.

>>> emb = get_embedder("gemini", project="my-proj")                                   # doctest: +SKIP
>>> v = emb.embed_content(["revenue by region", Path("chart.png")], task="retrieval_document")  # doctest: +SKIP
>>> q = emb.embed_content("bar chart of revenue", task="retrieval_query", dimension=768)  # doctest: +SKIP
>>> emb = get_embedder("gemini", base_url="http://127.0.0.1:8080")   # the emulator  # doctest: +SKIP

What differs from multimodalembedding@001:

- Gemini embeds *one content* (ordered parts: text, up to 6 images, a PDF of up to 6 pages, a
  video of up to 120 s, an audio clip of up to 180 s) into *one vector*: :meth:`embed_content`
  and, for many contents at the quota, :meth:`embed_contents`. Limits: :mod:`vertex_mm.limits`.
- Tasks are written into the text (``task="retrieval_query"``...: :mod:`vertex_mm.content`);
  the old ``task_type`` field is ignored by this model.
- Dimensions are free (Matryoshka) between 128 and 3072 (default 3072). The service
  L2-normalises truncated vectors; the client normalises again (a no-op, and a guard).
- The model is served from the ``global`` location (and the ``us`` / ``eu`` multi-regions),
  not from single regions: ``global`` is the default.
- ``document_ocr=True`` asks the service to also read the text of PDF parts (google-genai's
  ``EmbedContentConfig.document_ocr``; the OCR text costs extra tokens). It is sent only with
  contents that hold a PDF, and vectors with and without it are cached apart.
- :meth:`get_embeddings` keeps the vision_models meaning (one vector per modality, all in one
  space), so an image with ``contextual_text`` costs two calls. A video becomes one vector for
  the whole clip, whose one :class:`~vertex_mm.VideoEmbedding` spans ``0 ..`` the video's
  duration, measured with PyAV for inline bytes (``0 .. inf`` for a ``gs://`` video, which is
  not downloaded, or without PyAV, or when the file states no duration). The model
  answers one vector per request, so a ``video_segment_config`` (multimodalembedding@001's
  segments) costs one request per segment, each embedding only its segment:

  - a ``gs://`` video is not downloaded: each request sends its URI with the segment as
    ``videoMetadata`` (``start_offset`` / ``end_offset``, google-genai's
    ``types.VideoMetadata``). Its duration is not known here, so the segments run to the
    config's end (at most 120 s after its start); the first segment the service refuses past
    the first one (it starts after the video's end) ends the list, with a warning, and the last
    segment keeps the end that was asked for;
  - inline bytes are cut into one MP4 clip per segment (:mod:`vertex_mm.video_clips`; needs
    PyAV, the ``video`` extra), which sends each frame once, where ``videoMetadata`` would send
    the whole video with every segment (``benchmarks/bench_video_segments.py``).

google-genai is imported when an embedder is created, never with :mod:`vertex_mm`.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .batch.options import REMOTE_DEFAULTS
from .columns import coerce_input
from .embedder import BaseEmbedder
from .errors import APIError, InputError, InvalidArgumentError, VertexMMError
from .google_api import (
    EMULATOR_PROJECT,
    default_project,
    is_loopback,
    is_plain_http,
    raise_translated,
    translate_error,
    with_scheme,
)
from .limits import GEMINI_EMBEDDING_2, model_id, resolve_model
from .media import Audio, Document, Image, Video, VideoSegmentConfig, as_image, as_video
from .results import MultiModalEmbeddingResponse, VideoEmbedding
from .wire import ContentPart, EmbedRequest, guess_mime
from .wire.embed_content import format_duration

if TYPE_CHECKING:
    from google.genai import Client, types

__all__ = ["GeminiEmbedder", "translate_genai_error"]

#: The old name of :func:`vertex_mm.google_api.translate_error`, which handles google-genai too.
translate_genai_error = translate_error

#: gemini-embedding-2 is served from ``global`` and the ``us`` / ``eu`` multi-regions (model
#: card, "Supported regions"); single regions such as us-central1 served only the preview.
DEFAULT_LOCATION = "global"
#: Every location the model is served from (the limits table in README.md).
LOCATIONS = (DEFAULT_LOCATION, "us", "eu")


class GeminiEmbedder(BaseEmbedder):
    """Vertex AI ``gemini-embedding-2`` via ``google.genai.Client(vertexai=True)``.

    ``project`` defaults to ``GOOGLE_CLOUD_PROJECT`` and credentials to Application Default
    Credentials. ``api_key`` uses Vertex AI express mode instead (no project). ``base_url``
    (alias ``api_endpoint``) points the client elsewhere: with ``http://127.0.0.1:PORT`` it
    reaches ``vertex-mm emulator`` with a placeholder token. ``client`` passes a ready
    ``genai.Client``. ``timeout`` is in seconds. ``document_ocr`` reads the text of PDF parts
    too (the service's document OCR). Other keywords set how batch calls run
    (``requests_per_minute``, ``concurrency``, ``retry``, ``cache``; see ``configure_batch``).
    """

    backend = "gemini"
    # An image with a text, or a video's segments, are one request each (BatchEngine.call).
    limits_each_service_call = True
    # Safe to call from several threads at once (the batch engine does): a google-genai Client
    # may be shared across threads, and the rate limiter and the engine lock their own state.
    thread_safe = True
    batch_defaults = REMOTE_DEFAULTS
    limits = GEMINI_EMBEDDING_2
    content_limits = GEMINI_EMBEDDING_2

    def __init__(
        self,
        project: str | None = None,
        location: str = DEFAULT_LOCATION,
        *,
        model: str = "gemini-embedding-2",
        credentials: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_endpoint: str | None = None,
        api_version: str | None = None,
        timeout: float = 60.0,
        client: "Client | None" = None,
        document_ocr: bool = False,
        **batch_options: Any,
    ) -> None:
        if base_url and api_endpoint and base_url != api_endpoint:
            raise InputError("pass base_url or api_endpoint, not both", input_name="base_url")
        # A superseded id (gemini-embedding-2-preview) is sent, and names the space, as its
        # successor, with a one-time FutureWarning (vertex_mm.limits.resolve_model).
        self.model = model = resolve_model(model_id(model))
        if not isinstance(document_ocr, bool):
            raise InputError(f"document_ocr must be True or False, got {document_ocr!r}", input_name="document_ocr")
        self.document_ocr = document_ocr
        self._warned_truncated = False
        self.base_url = with_scheme(base_url or api_endpoint)
        if location not in LOCATIONS:
            raise InputError(
                f"location {location!r}: {model} is served from {DEFAULT_LOCATION!r} (the default) or the "
                f"{' / '.join(repr(loc) for loc in LOCATIONS[1:])} multi-regions, not from single regions such as "
                "us-central1; pass location='global' (or leave it out)",
                input_name="location",
            )
        self.location = location
        if api_key and (project or credentials):
            raise InputError("api_key (Vertex AI express mode) excludes project and credentials", input_name="api_key")
        if api_key:
            self.project = None
        else:
            self.project = project or default_project() or (EMULATOR_PROJECT if is_plain_http(self.base_url) else None)
        if is_plain_http(self.base_url) and not is_loopback(self.base_url) and (credentials is not None or api_key):
            # Plain HTTP to another machine would show the bearer token or key to the network.
            raise InputError(
                f"refusing to send credentials or an API key over plain HTTP to {self.base_url}; "
                "use https://, or a loopback address (127.0.0.1) for the emulator",
                input_name="base_url",
            )
        if client is None:
            client = _make_client(self.project, location, credentials, api_key, self.base_url, api_version, timeout)
        self._client = client
        self.configure_batch(**batch_options)

    # -- the backend contract --------------------------------------------------------------
    def _predict(self, request: EmbedRequest) -> MultiModalEmbeddingResponse:
        if request.content is not None:
            parts = [_content_part(p) for p in request.content]
            ocr = self.document_ocr and any(p.kind == "document" for p in request.content)
            vector = self._embed(parts, request.dimension, audio_track_extraction=request.audio_track_extraction,
                                 document_ocr=ocr)
            return MultiModalEmbeddingResponse(
                content_embedding=vector, space=self.content_space(request.dimension).with_task(request.task))
        from google.genai import types

        dim = request.dimension
        image = text = None
        videos: list[VideoEmbedding] = []
        if request.image is not None:
            image = self._embed([_media_part(request.image, request.image_mime_type)], dim)
        if request.text is not None:
            text = self._embed([types.Part(text=request.text)], dim)
        if request.video is not None and request.video_segment_config is not None:
            videos = self._video_segments(request.video, request.video_segment_config, dim, request.video_mime_type)
        elif request.video is not None:
            vector = self._embed([_media_part(request.video, request.video_mime_type)], dim)
            videos = [VideoEmbedding(start_offset_sec=0.0, end_offset_sec=_whole_video_end(request.video),
                                     embedding=vector)]
        return MultiModalEmbeddingResponse(
            image_embedding=image, text_embedding=text, video_embeddings=videos, space=self.space(dim)
        )

    def _video_segments(self, video: Video, config: VideoSegmentConfig, dimension: int,
                        mime: str | None = None) -> list[VideoEmbedding]:
        """multimodalembedding@001's answer to a ``video_segment_config``, one vector per segment,
        one request per segment: a gs:// video with the segment as ``videoMetadata``, inline
        bytes cut into one clip per segment (:mod:`vertex_mm.video_clips`)."""
        if video.data is None:
            return self._gcs_video_segments(video, config, dimension, mime or guess_mime(video))
        from .video_clips import cut_clips

        segments = []
        for start, end, clip in cut_clips(video.data, config, name=video.name):
            vector = self._embed([_media_part(Video(clip, name=f"{video.name}[{start:g}-{end:g}s]"), "video/mp4")],
                                 dimension)
            segments.append(VideoEmbedding(start_offset_sec=float(start), end_offset_sec=float(end), embedding=vector))
        return segments

    def _gcs_video_segments(self, video: Video, config: VideoSegmentConfig, dimension: int,
                            mime: str) -> list[VideoEmbedding]:
        from google.genai import types

        segments: list[VideoEmbedding] = []
        for start, end in config.segments():
            span = types.VideoMetadata(start_offset=format_duration(start), end_offset=format_duration(end))
            part = types.Part(file_data=types.FileData(file_uri=video.gcs_uri, mime_type=mime), video_metadata=span)
            try:
                vector = self._embed([part], dimension)
            except InvalidArgumentError as exc:
                if not segments:
                    raise
                # The same video, offsets and options were accepted for the segment before: this
                # one starts after the video's end, which is not known here (nothing is downloaded).
                # With the default end ("the first 120 s") that is the expected way to stop, as
                # @001 stops at the video's end; an end the caller chose gets a warning.
                if config.end_offset_sec == VideoSegmentConfig().end_offset_sec:
                    break
                warnings.warn(
                    f"{video.name}: the segment {start:g}-{end:g} s was refused ({exc.message}); taking the video to "
                    f"end before {start:g} s and returning {len(segments)} segment(s). Pass "
                    "video_segment_config(end_offset_sec=...) within the video to avoid this extra request",
                    UserWarning, stacklevel=4)
                break
            segments.append(VideoEmbedding(start_offset_sec=float(start), end_offset_sec=float(end), embedding=vector))
        return segments

    def embed_fused(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
    ) -> np.ndarray:
        """The earlier name of :meth:`embed_content` for text, an image and a video (in that
        order) as one content."""
        parts = [p for p in (contextual_text, coerce_input(as_image, image, "image"),
                             coerce_input(as_video, video, "video")) if p is not None]
        return self.embed_content(parts, dimension=dimension)

    def _embed(self, parts: list["types.Part"], dimension: int, *, audio_track_extraction: bool = False,
               document_ocr: bool = False) -> list[float]:
        from google.genai import types

        # Unset options stay out of the config altogether, not passed as None: google-genai's
        # models refuse fields a release does not know even when None, so a request that uses
        # neither works on any release.
        options: dict[str, Any] = {"output_dimensionality": dimension}
        if audio_track_extraction:
            options["audio_track_extraction"] = True
        if document_ocr:
            options["document_ocr"] = True
        config = types.EmbedContentConfig(**options)
        contents = types.Content(role="user", parts=parts)

        def send() -> list[float]:
            try:
                response = self._client.models.embed_content(model=self.model, contents=contents, config=config)
            except Exception as exc:
                raise_translated(exc)
            return self._unit_vector(response, dimension)

        # Each request under the rate limiter and the retry policy on its own.
        return self._batch_engine().service_call(send)

    def _unit_vector(self, response: Any, dimension: int) -> list[float]:
        embeddings = response.embeddings or []
        if not embeddings or embeddings[0].values is None:
            raise APIError("the service returned no embedding", status_code=200)
        self._note_truncation(embeddings[0].statistics)
        values = np.asarray(embeddings[0].values, dtype=np.float64)
        if values.shape != (dimension,):
            raise APIError(f"asked for {dimension} dimensions, the service returned {values.size}", status_code=200)
        norm = float(np.linalg.norm(values))
        # The service normalises truncated vectors itself; doing it again guards against change.
        unit: list[float] = (values / norm if norm > 0 else values).tolist()
        return unit

    def _note_truncation(self, statistics: Any) -> None:
        """Warn (once per embedder) when the service says it cut a content: it embeds only the
        first 8192 tokens and reports ``truncated`` (``usageMetadata``/``truncated`` on the wire,
        ``statistics.truncated`` in google-genai) instead of refusing."""
        if self._warned_truncated or statistics is None or not getattr(statistics, "truncated", None):
            return
        self._warned_truncated = True
        budget = self.content_limits.content.max_tokens if self.content_limits.content else "its"
        tokens = getattr(statistics, "token_count", None)
        counted = f" (one had {tokens:,} tokens)" if isinstance(tokens, (int, float)) else ""
        warnings.warn(
            f"{self.model} truncated a content to its first {budget} tokens{counted}: the rest is not in its "
            "vector. Text, images (258 tokens each), PDF pages (258), audio (25/s) and video (66/frame) share "
            "that budget; split long contents. This warning is shown once per embedder",
            UserWarning, stacklevel=2)

    def _cache_scope(self) -> str:
        scope = self.base_url or f"vertex:{self.project}/{self.location}"
        # OCR changes what a PDF embeds to: its vectors must not answer for those without it.
        return scope + " document_ocr" if self.document_ocr else scope

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            pass
        super().close()

    def __repr__(self) -> str:
        where = self.base_url or f"{self.project}/{self.location}"
        ocr = ", document_ocr=True" if self.document_ocr else ""
        return f"GeminiEmbedder(model={self.model!r}, endpoint={where!r}{ocr})"


def _make_client(
    project: str | None,
    location: str,
    credentials: Any,
    api_key: str | None,
    base_url: str | None,
    api_version: str | None,
    timeout: float,
) -> "Client":
    from google import genai
    from google.genai import types

    http_options = types.HttpOptions(base_url=base_url, api_version=api_version, timeout=int(timeout * 1000))
    try:
        if api_key:
            return genai.Client(vertexai=True, api_key=api_key, http_options=http_options)
        if is_plain_http(base_url) and (credentials is None or _anonymous(credentials)):
            # google-genai refuses AnonymousCredentials (what vertexai.init is given for the
            # emulator); a placeholder token is never checked.
            from google.oauth2.credentials import Credentials

            credentials = Credentials(token="vertex-mm-emulator")  # type: ignore[no-untyped-call]
        return genai.Client(
            vertexai=True,
            project=project,
            location=location,
            credentials=credentials,
            http_options=http_options,
        )
    except VertexMMError:
        raise
    except Exception as exc:  # missing ADC, bad credentials
        raise_translated(exc)


def _anonymous(credentials: Any) -> bool:
    from google.auth.credentials import AnonymousCredentials

    return isinstance(credentials, AnonymousCredentials)


def _whole_video_end(video: Video) -> float:
    """Where a whole video's one segment ends: the duration of inline bytes (PyAV, the ``video``
    extra), else ``inf`` (a gs:// video is not downloaded; no PyAV; no duration found)."""
    if video.data is None:
        return math.inf
    from .video_clips import measured_duration, open_video

    try:
        container = open_video(video.data, video.name)
    except (ImportError, InputError):  # MissingDependencyError is an ImportError
        return math.inf
    try:
        container, seconds = measured_duration(container, video.data, video.name)
    except InputError:
        return math.inf
    finally:
        container.close()
    return seconds if math.isfinite(seconds) and seconds > 0 else math.inf


def _media_part(media: Image | Video | Document | Audio, mime: str | None) -> types.Part:
    from google.genai import types as genai_types

    mime = mime or guess_mime(media)
    if media.data is not None:
        return genai_types.Part.from_bytes(data=media.data, mime_type=mime)
    return genai_types.Part.from_uri(file_uri=media.gcs_uri or "", mime_type=mime)


def _content_part(part: ContentPart) -> types.Part:
    from google.genai import types as genai_types

    if part.kind == "text":
        return genai_types.Part(text=part.text)
    assert part.media is not None
    media = _media_part(part.media, part.mime)
    if part.span is not None:  # only this span of the video is embedded, as batch lines send it
        span = part.span
        media.video_metadata = genai_types.VideoMetadata(
            start_offset=None if span.start is None else format_duration(span.start),
            end_offset=None if span.end is None else format_duration(span.end), fps=span.fps)
    return media
