"""``GeminiEmbedder``: ``gemini-embedding-2`` on Vertex AI through google-genai.

>>> emb = get_embedder("gemini", project="my-proj", location="us-central1")          # doctest: +SKIP
>>> r = emb.get_embeddings(image="cat.jpg", contextual_text="a cat", dimension=768)   # doctest: +SKIP
>>> emb = get_embedder("gemini", base_url="http://127.0.0.1:8080")   # the emulator  # doctest: +SKIP

What differs from multimodalembedding@001:

- Dimensions are free (Matryoshka) between 128 and 3072 (default 3072) for images and text.
- Gemini embeds *one content* into *one vector*. :meth:`~GeminiEmbedder.get_embeddings` keeps
  the vision_models meaning (one vector per modality, all in one space), so an image with
  ``contextual_text`` costs two calls. :meth:`~GeminiEmbedder.embed_fused` sends all parts as
  one content and returns the single fused vector.
- A video becomes one vector for the whole clip: there are no segments, so
  ``video_segment_config`` is refused, and the one :class:`~vertex_mm.VideoEmbedding` spans
  ``0 .. inf`` (to the end of the video).

google-genai is imported when an embedder is created, never with :mod:`vertex_mm`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .batch.options import REMOTE_DEFAULTS
from .embedder import BaseEmbedder
from .errors import APIError, InputError, InvalidVideoError, VertexMMError
from .google_api import (
    EMULATOR_PROJECT,
    default_project,
    is_loopback,
    is_plain_http,
    raise_translated,
    translate_error,
    with_scheme,
)
from .limits import GEMINI_EMBEDDING_2
from .media import Image, Video
from .results import MultiModalEmbeddingResponse, VideoEmbedding
from .wire import EmbedRequest

if TYPE_CHECKING:
    from google.genai import Client, types

__all__ = ["GeminiEmbedder", "translate_genai_error"]

#: The old name of :func:`vertex_mm.google_api.translate_error`, which handles google-genai too.
translate_genai_error = translate_error


class GeminiEmbedder(BaseEmbedder):
    """Vertex AI ``gemini-embedding-2`` via ``google.genai.Client(vertexai=True)``.

    ``project`` defaults to ``GOOGLE_CLOUD_PROJECT`` and credentials to Application Default
    Credentials. ``api_key`` uses Vertex AI express mode instead (no project). ``base_url``
    (alias ``api_endpoint``) points the client elsewhere: with ``http://127.0.0.1:PORT`` it
    reaches ``vertex-mm emulator`` with a placeholder token. ``client`` passes a ready
    ``genai.Client``. ``timeout`` is in seconds. Other keywords set how batch calls run
    (``requests_per_minute``, ``concurrency``, ``retry``, ``cache``; see ``configure_batch``).
    """

    backend = "gemini"
    batch_defaults = REMOTE_DEFAULTS

    def __init__(
        self,
        project: str | None = None,
        location: str = "us-central1",
        *,
        model: str = "gemini-embedding-2",
        credentials: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
        api_endpoint: str | None = None,
        api_version: str | None = None,
        timeout: float = 60.0,
        client: "Client | None" = None,
        **batch_options: Any,
    ) -> None:
        if base_url and api_endpoint and base_url != api_endpoint:
            raise ValueError("pass base_url or api_endpoint, not both")
        self.model = model
        self.limits = GEMINI_EMBEDDING_2
        self.base_url = with_scheme(base_url or api_endpoint)
        self.location = location
        if api_key and (project or credentials):
            raise ValueError("api_key (Vertex AI express mode) excludes project and credentials")
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
        if request.video is not None and request.video_segment_config is not None:
            raise InvalidVideoError(
                f"{request.video.name}: {self.model} embeds a whole video into one vector; "
                "video_segment_config is not supported (trim the video, or use the vertex backend)",
                input_name="video_segment_config",
            )
        from google.genai import types

        dim = request.dimension
        image = text = None
        videos: list[VideoEmbedding] = []
        if request.image is not None:
            image = self._embed([_media_part(types, request.image, request.image_mime_type)], dim)
        if request.text is not None:
            text = self._embed([types.Part(text=request.text)], dim)
        if request.video is not None:
            vector = self._embed([_media_part(types, request.video, request.video_mime_type)], dim)
            videos = [VideoEmbedding(start_offset_sec=0.0, end_offset_sec=math.inf, embedding=vector)]
        return MultiModalEmbeddingResponse(
            image_embedding=image, text_embedding=text, video_embeddings=videos, space=self.space(dim)
        )

    def embed_fused(
        self,
        image: Any = None,
        video: Any = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
    ) -> np.ndarray:
        """One float32 vector for all given parts sent as one content (Gemini's own fusion)."""
        from google.genai import types

        request = self.build_request(image, video, contextual_text, dimension)
        parts = []
        if request.text is not None:
            parts.append(types.Part(text=request.text))
        if request.image is not None:
            parts.append(_media_part(types, request.image, request.image_mime_type))
        if request.video is not None:
            parts.append(_media_part(types, request.video, request.video_mime_type))
        return np.asarray(self._embed(parts, request.dimension), dtype=np.float32)

    def _embed(self, parts: list["types.Part"], dimension: int) -> list[float]:
        from google.genai import types

        try:
            response = self._client.models.embed_content(
                model=self.model,
                contents=types.Content(role="user", parts=parts),
                config=types.EmbedContentConfig(output_dimensionality=dimension),
            )
        except Exception as exc:
            raise_translated(exc)
        embeddings = response.embeddings or []
        if not embeddings or embeddings[0].values is None:
            raise APIError("the service returned no embedding", status_code=200)
        values = list(embeddings[0].values)
        if len(values) != dimension:
            raise APIError(f"asked for {dimension} dimensions, the service returned {len(values)}", status_code=200)
        return values

    def _cache_scope(self) -> str:
        return self.base_url or f"vertex:{self.project}/{self.location}"

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            pass
        super().close()

    def __repr__(self) -> str:
        where = self.base_url or f"{self.project}/{self.location}"
        return f"GeminiEmbedder(model={self.model!r}, endpoint={where!r})"


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
        if is_plain_http(base_url) and credentials is None:
            # google-genai refuses AnonymousCredentials; a placeholder token is never checked.
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


def _media_part(types: Any, media: Image | Video, mime: str | None) -> "types.Part":
    from .wire import _guess_mime

    part: types.Part
    if media.data is not None:
        part = types.Part.from_bytes(data=media.data, mime_type=mime or media.mime_type)
    else:
        part = types.Part.from_uri(file_uri=media.gcs_uri, mime_type=mime or _guess_mime(media))
    return part
