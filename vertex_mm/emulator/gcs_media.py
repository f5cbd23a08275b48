"""``gs://`` media in requests: the emulator downloads them, as the service reads them from
Cloud Storage, and validates the bytes like inline ones.

With a storage client (injected, or made from ``STORAGE_EMULATOR_HOST``), an image or video
``gcsUri`` of ``:predict`` and a ``fileData`` part of ``:embedContent`` (and of batch job
lines) are downloaded, bounded by ``max_gcs_object_bytes``, and the request is rebuilt from
the bytes, so every limit applies (a 7-page PDF in a bucket gets the same 400 as inline) and
the vector is the one of the bytes. A missing object answers 400 INVALID_ARGUMENT naming the
URI.

Without a client the request is left as it is: the URI stands in for the bytes (hashed vectors
of the URI, no format or size checks). That is the emulator's behaviour when no storage
emulator is configured.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..gcs import read_object
from ..limits import ModelLimits
from ..media import Audio, Document, Image, Video
from ..wire import EmbedRequest

__all__ = ["GcsMedia"]

_Media = Image | Video | Document | Audio


class GcsMedia:
    """Turns the ``gs://`` media of a request into bytes (no-op without a storage client)."""

    def __init__(self, client: Any = None, *, max_bytes: int) -> None:
        self.client = client
        self.max_bytes = max_bytes

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def read(self, uri: str) -> bytes:
        """The object's bytes (typed errors: :class:`~vertex_mm.gcs.ObjectNotFoundError`, ...)."""
        if self.client is None:
            raise RuntimeError("the emulator has no Cloud Storage client")
        return read_object(self.client, uri, max_bytes=self.max_bytes)

    def resolve(self, request: EmbedRequest, limits: ModelLimits) -> EmbedRequest:
        """``request`` with every ``gs://`` media replaced by its bytes, re-validated. The
        whole-request size is not checked again: the request was sized as received, where a
        gs:// part is a URI, not its bytes (the service does not count gs:// media)."""
        if self.client is None or not _has_gcs(request):
            return request
        if request.content is not None:
            parts = [p.text if p.kind == "text" else self._fetched(p.media) for p in request.content]
            span = next((p.span for p in request.content if p.span is not None), None)
            rebuilt = EmbedRequest.create_content(
                [p for p in parts if p is not None], limits=limits, dimension=request.dimension, key=request.key,
                audio_track_extraction=request.audio_track_extraction, video_span=span, check_size=False)
            # The text parts already carry the task's form; keep the task's name.
            return dataclasses.replace(rebuilt, task=request.task)
        image = self._fetched(request.image) if request.image is not None else None
        video = self._fetched(request.video) if request.video is not None else None
        return EmbedRequest.create(
            image=image if isinstance(image, Image) else None,
            video=video if isinstance(video, Video) else None,
            contextual_text=request.text, dimension=request.dimension,
            video_segment_config=request.video_segment_config, limits=limits, key=request.key, check_size=False)

    def _fetched(self, media: _Media | None) -> _Media | None:
        if media is None or media.gcs_uri is None:
            return media
        return type(media)(self.read(media.gcs_uri), name=media.gcs_uri)


def _has_gcs(request: EmbedRequest) -> bool:
    media: list[_Media | None] = [request.image, request.video]
    media += [p.media for p in request.content or ()]
    return any(m is not None and m.gcs_uri is not None for m in media)
