"""Inputs with the constructors of ``vertexai.vision_models``: Image, Video, VideoSegmentConfig.

Code written for the deprecated module keeps working: ``Image.load_from_file(path | gs://…)``,
``Image(image_bytes=…)``, ``Image(gcs_uri=…)``, and the same for Video. Bytes are validated
against :mod:`vertex_mm.limits` when a request is built, not here, so that a batch can build
every input first and report each bad one with its own typed error.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.parse
from dataclasses import dataclass
from typing import Union

from .limits import IMAGE_MIME_TYPES, VIDEO_MIME_TYPES, check_gcs_uri, sniff_image_format, sniff_video_format

__all__ = ["Image", "ImageInput", "Video", "VideoSegmentConfig", "as_image", "as_video"]


def _normalise_location(location: str | os.PathLike[str]) -> str:
    location = os.fspath(location)
    parsed = urllib.parse.urlparse(location)
    if parsed.scheme == "https" and parsed.netloc == "storage.googleapis.com":
        return "gs:/" + urllib.parse.unquote(parsed.path)
    return location


class _Media:
    _kind = "media"

    def __init__(self, data: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None) -> None:
        if (data is None) == (gcs_uri is None):
            raise ValueError(f"Either {self._kind}_bytes or gcs_uri must be provided (exactly one).")
        if gcs_uri is not None:
            check_gcs_uri(gcs_uri, name=name or "gcs_uri")
        if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{self._kind}_bytes must be bytes, got {type(data).__name__}")
        self._bytes = bytes(data) if data is not None else None
        self._gcs_uri = gcs_uri
        self.name = name or gcs_uri or f"<{self._kind} bytes>"

    @property
    def gcs_uri(self) -> str | None:
        return self._gcs_uri

    @property
    def data(self) -> bytes | None:
        """The raw bytes, or None for a gcs_uri input."""
        return self._bytes

    def sha256(self) -> str:
        """Content hash: of the bytes, or of the URI for gcs inputs."""
        payload = self._bytes if self._bytes is not None else (self._gcs_uri or "").encode()
        return hashlib.sha256(payload).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Media) and type(other) is type(self) and (
            (self._bytes, self._gcs_uri) == (other._bytes, other._gcs_uri))

    def __hash__(self) -> int:
        return hash((type(self), self._gcs_uri, self._bytes))

    def __repr__(self) -> str:
        if self._gcs_uri:
            return f"{type(self).__name__}(gcs_uri={self._gcs_uri!r})"
        return f"{type(self).__name__}(name={self.name!r}, {len(self._bytes or b''):,} bytes)"


class Image(_Media):
    """An image, from bytes or from Cloud Storage."""

    _kind = "image"

    def __init__(self, image_bytes: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None):
        super().__init__(image_bytes, gcs_uri, name=name)

    @staticmethod
    def load_from_file(location: str | os.PathLike[str]) -> "Image":
        """Load from a local path, ``gs://bucket/object`` or ``https://storage.googleapis.com/…``."""
        location = _normalise_location(location)
        if location.startswith("gs:"):
            return Image(gcs_uri=location)
        return Image(image_bytes=pathlib.Path(location).read_bytes(), name=location)

    @property
    def _image_bytes(self) -> bytes | None:  # the attribute name vision_models code reaches for
        return self._bytes

    @property
    def mime_type(self) -> str | None:
        """Decided from the bytes; None for gcs inputs or unrecognised bytes."""
        if self._bytes is None:
            return None
        fmt = sniff_image_format(self._bytes[:16])
        return IMAGE_MIME_TYPES.get(fmt or "")


class Video(_Media):
    """A video, from bytes or from Cloud Storage."""

    _kind = "video"

    def __init__(self, video_bytes: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None):
        super().__init__(video_bytes, gcs_uri, name=name)

    @staticmethod
    def load_from_file(location: str | os.PathLike[str]) -> "Video":
        """Load from a local path, ``gs://bucket/object`` or ``https://storage.googleapis.com/…``."""
        location = _normalise_location(location)
        if location.startswith("gs:"):
            return Video(gcs_uri=location)
        return Video(video_bytes=pathlib.Path(location).read_bytes(), name=location)

    @property
    def _video_bytes(self) -> bytes | None:
        return self._bytes

    @property
    def mime_type(self) -> str | None:
        if self._bytes is None:
            return None
        fmt = sniff_video_format(self._bytes[:512])
        return VIDEO_MIME_TYPES.get(fmt or "")


@dataclass(frozen=True)
class VideoSegmentConfig:
    """Which part of a video to embed, and how long each embedded segment is (seconds).

    Defaults are the service's: the first 120 s in 16 s segments.
    """

    start_offset_sec: float = 0
    end_offset_sec: float = 120
    interval_sec: float = 16

    def segments(self, duration: float | None = None) -> list[tuple[float, float]]:
        """The (start, end) of each segment the service would return, clipped to ``duration``."""
        end = self.end_offset_sec if duration is None else min(self.end_offset_sec, duration)
        out: list[tuple[float, float]] = []
        t = float(self.start_offset_sec)
        while t < end - 1e-9:
            out.append((t, min(t + self.interval_sec, end)))
            t += self.interval_sec
        return out


ImageInput = Union[Image, str, "os.PathLike[str]", bytes]


def _foreign_media(obj: object, attr: str) -> tuple[bytes | None, str | None] | None:
    """Bytes and URI of a ``vertexai.vision_models`` Image/Video, read without importing it."""
    if hasattr(obj, "_gcs_uri") and (hasattr(obj, "_loaded_bytes") or hasattr(obj, attr)):
        uri = getattr(obj, "_gcs_uri", None)
        data = None if uri else getattr(obj, "_loaded_bytes", None)
        return data, uri
    return None


def as_image(x: object) -> Image:
    """Coerce a path, ``gs://`` string, bytes, our Image or a vision_models Image into an Image."""
    if isinstance(x, Image):
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return Image(image_bytes=bytes(x))
    if isinstance(x, (str, os.PathLike)):
        return Image.load_from_file(x)
    foreign = _foreign_media(x, "_image_bytes")
    if foreign is not None:
        return Image(image_bytes=foreign[0], gcs_uri=foreign[1])
    raise TypeError(f"cannot use {type(x).__name__} as an image; pass a path, gs:// URI, bytes or Image")


def as_video(x: object) -> Video:
    """Coerce a path, ``gs://`` string, bytes, our Video or a vision_models Video into a Video."""
    if isinstance(x, Video):
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return Video(video_bytes=bytes(x))
    if isinstance(x, (str, os.PathLike)):
        return Video.load_from_file(x)
    foreign = _foreign_media(x, "_video_bytes")
    if foreign is not None:
        return Video(video_bytes=foreign[0], gcs_uri=foreign[1])
    raise TypeError(f"cannot use {type(x).__name__} as a video; pass a path, gs:// URI, bytes or Video")
