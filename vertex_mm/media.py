"""Inputs: Image, Video and VideoSegmentConfig with the constructors of ``vertexai.vision_models``,
plus Document (PDF) and Audio for gemini-embedding-2.

Code written for the deprecated module keeps working: ``Image.load_from_file(path | gs://…)``,
``Image(image_bytes=…)``, ``Image(gcs_uri=…)``, and the same for Video. Bytes are validated
against :mod:`vertex_mm.limits` when a request is built, not here, so that a batch can build
every input first and report each bad one with its own typed error.

Reading a local file never escapes as a bare ``OSError``: a missing file, a folder, a loop of
links or an unreadable name is an :class:`~vertex_mm.errors.UnreadableInputError` naming it
(still an ``OSError``); a file larger than any model accepts is refused from its size, before
it is read. ``http(s)://`` URLs are refused: the service takes bytes or ``gs://`` only.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import io
import os
import pathlib
import re
import stat
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar, Union

from .errors import (
    ImageTooLargeError,
    InputError,
    InputIsADirectoryError,
    InputNotFoundError,
    InvalidAudioError,
    InvalidDocumentError,
    InvalidURIError,
    InvalidVideoError,
    UnreadableInputError,
    VideoTooLargeError,
)
from .limits import (
    AUDIO_MIME_TYPES,
    DOCUMENT_MIME_TYPES,
    IMAGE_MIME_TYPES,
    IMAGE_SNIFF_BYTES,
    MB,
    VIDEO_MIME_TYPES,
    check_gcs_uri,
    format_for_suffix,
    sniff_audio_format,
    sniff_document_format,
    sniff_image_format,
    sniff_video_format,
)

__all__ = [
    "Audio",
    "Document",
    "Image",
    "ImageInput",
    "Video",
    "VideoSegmentConfig",
    "as_audio",
    "as_document",
    "as_image",
    "as_video",
    "read_input_file",
]

if TYPE_CHECKING:
    from PIL import Image as PILImage

M = TypeVar("M", bound="_Media")


#: The JSON API's object URL (``Blob.media_link``): /download/storage/v1/b/BUCKET/o/OBJECT.
_JSON_API_OBJECT = re.compile(r"^/(?:download/)?storage/v1/b/([^/]+)/o/(.+)$")


def _normalise_location(location: str | os.PathLike[str] | bytes, kind: str) -> str:
    location = os.fsdecode(location)  # a bytes path too (os.fspath gives bytes, and every check below wants str)
    parsed = urllib.parse.urlsplit(location)
    scheme = parsed.scheme.lower()
    if location[:3].lower() == "gs:":
        return "gs:" + location[3:]  # GS://b/o is the same URI, not a local file of that name
    if scheme == "https" and parsed.netloc == "storage.googleapis.com":
        if "generation" in urllib.parse.parse_qs(parsed.query):
            raise InvalidURIError(
                f"{location}: pins one generation of the object, which a gs:// URI cannot carry (the service reads "
                "the live one); copy that generation to an object of its own and pass its gs:// URI", input_name=location)
        api = _JSON_API_OBJECT.match(parsed.path)
        if api:  # the bucket is in the path, not first: it read as bucket "download"
            return f"gs://{urllib.parse.unquote(api.group(1))}/{urllib.parse.unquote(api.group(2))}"
        return "gs:/" + urllib.parse.unquote(parsed.path)
    if scheme in ("http", "https"):
        raise InvalidURIError(
            f"{location}: web URLs are not fetched; the embedding services take {kind} bytes or a gs:// URI. "
            "Download the file first, or copy it to Cloud Storage (gcloud storage cp) and pass gs://BUCKET/OBJECT",
            input_name=location,
        )
    return location


def read_input_file(location: str | os.PathLike[str], *, kind: str, max_bytes: int) -> bytes:
    """The bytes of a local input file, refused with a typed error when it cannot be read or
    when it is larger than ``max_bytes`` (checked from its size before reading, and while
    reading for files that have no size, such as ``/dev/zero``)."""
    name = os.fspath(location)
    if "\x00" in name:
        raise UnreadableInputError(f"{name!r}: a file name cannot contain a NUL byte", input_name=name)
    try:
        with open(name, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISDIR(info.st_mode):  # pragma: no cover - open() refuses folders on Linux
                raise IsADirectoryError(errno.EISDIR, "is a folder", name)
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise _too_large(kind, name, info.st_size, max_bytes)
            data = f.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"{name}: no such {kind} file", input_name=name) from exc
    except IsADirectoryError as exc:
        article = "an" if kind[:1] in "aeiou" else "a"
        raise InputIsADirectoryError(f"{name}: is a folder, not {article} {kind} file", input_name=name) from exc
    except OSError as exc:
        raise UnreadableInputError(f"{name}: cannot read the {kind} file: {exc.strerror or exc}", input_name=name) from exc
    if len(data) > max_bytes:
        raise _too_large(kind, name, None, max_bytes)
    return data


def _too_large(kind: str, name: str, size: int | None, limit: int) -> InputError:
    error = {"image": ImageTooLargeError, "video": VideoTooLargeError, "document": InvalidDocumentError,
             "audio": InvalidAudioError}.get(kind, InputError)
    size_s = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    # The local backend keeps the service's limits (what runs offline runs online), so the fix
    # names both ways: smaller bytes anywhere, or Cloud Storage for the online backends.
    return error(f"{name}: the {kind} file is {size_s}; at most {limit:,} bytes ({limit // MB} MB) can be sent "
                 "inline (the service's limit, which the local backend keeps). Make it smaller, or for vertex/gemini "
                 "upload it to Cloud Storage and pass a gs:// URI", input_name=name)


# How each kind's MIME type is read from its bytes: the sniffer of :mod:`vertex_mm.limits`, how
# many leading bytes it needs, and its format -> MIME table.
_SNIFFERS: dict[str, tuple[Callable[[bytes], str | None], int, Mapping[str, str]]] = {
    "image": (sniff_image_format, IMAGE_SNIFF_BYTES, IMAGE_MIME_TYPES),
    "video": (sniff_video_format, 512, VIDEO_MIME_TYPES),
    "document": (sniff_document_format, 1024, DOCUMENT_MIME_TYPES),
    "audio": (sniff_audio_format, 16, AUDIO_MIME_TYPES),
}


class _Media:
    _kind: ClassVar[str] = "media"
    #: The largest file of this kind any model accepts inline; larger files are refused unread.
    _max_file_bytes: ClassVar[int] = 30 * MB

    def __init__(self, data: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None) -> None:
        if (data is None) == (gcs_uri is None):
            raise InputError(f"Either {self._kind}_bytes or gcs_uri must be provided (exactly one).",
                             input_name=name or self._kind)
        if gcs_uri is not None:
            check_gcs_uri(gcs_uri, name=name or "gcs_uri")
        if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{self._kind}_bytes must be bytes, got {type(data).__name__}")
        self._bytes = bytes(data) if data is not None else None
        self._gcs_uri = gcs_uri
        self.name = name or gcs_uri or f"<{self._kind} bytes>"

    @classmethod
    def load_from_file(cls: type[M], location: str | os.PathLike[str]) -> M:
        """Load from a local path, ``gs://bucket/object`` or ``https://storage.googleapis.com/…``."""
        where = _normalise_location(location, cls._kind)
        if where.startswith("gs:"):
            return cls(gcs_uri=where)
        return cls(read_input_file(where, kind=cls._kind, max_bytes=cls._max_file_bytes), name=where)

    @property
    def gcs_uri(self) -> str | None:
        return self._gcs_uri

    @property
    def data(self) -> bytes | None:
        """The raw bytes, or None for a gcs_uri input."""
        return self._bytes

    @property
    def kind(self) -> str:
        """``image``, ``video``, ``document`` or ``audio``."""
        return self._kind

    @property
    def mime_type(self) -> str | None:
        """Decided from the bytes; for a gs:// input (not read here) from the object name's
        suffix (``.heic`` -> ``image/heic``, ``.mov`` -> ``video/quicktime``, which not every
        Python's :mod:`mimetypes` knows); None when unrecognised."""
        if self._kind not in _SNIFFERS:
            return None
        sniff, head_bytes, mime_types = _SNIFFERS[self._kind]
        if self._bytes is None:
            return mime_types.get(format_for_suffix(self._gcs_uri or "", mime_types) or "")
        return mime_types.get(sniff(self._bytes[:head_bytes]) or "")

    def save(self, location: str | os.PathLike[str]) -> None:
        """Write the bytes to a local file, as vision_models' ``save`` does. A ``gcs_uri`` input
        is read from Cloud Storage first (the ``google-cloud-storage`` client, with the
        environment's credentials) and streamed to the file whatever its size: a copy is not an
        input to embed, so no embedding size limit applies."""
        if self._bytes is not None:
            pathlib.Path(location).write_bytes(self._bytes)
            return
        from .gcs import download_object, make_client  # only a gs:// input needs the storage client

        download_object(make_client(), self._gcs_uri or "", location)

    def _read_bytes(self) -> bytes:
        """The bytes; for a ``gcs_uri`` input read from Cloud Storage each time (not kept: equality
        and the hash compare what the input was made from)."""
        if self._bytes is not None:
            return self._bytes
        from .gcs import make_client, read_object  # only a gs:// input needs the storage client

        return read_object(make_client(), self._gcs_uri or "", max_bytes=self._max_file_bytes)

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
    _max_file_bytes = 20 * MB

    def __init__(self, image_bytes: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None):
        super().__init__(image_bytes, gcs_uri, name=name)

    @property
    def _image_bytes(self) -> bytes | None:  # the attribute name vision_models code reaches for
        return self._bytes

    # The rest of vision_models' Image that notebooks reach for: the decoded picture, its size,
    # its MIME type, and show().

    @property
    def _pil_image(self) -> PILImage.Image:
        from PIL import Image as PILImage  # Pillow is a dependency; imported here to keep imports light

        return PILImage.open(io.BytesIO(self._read_bytes()))

    @property
    def _size(self) -> tuple[int, int]:
        """(width, height) in pixels, as stored (EXIF orientation not applied, as in vision_models)."""
        with self._pil_image as picture:
            return picture.size

    @property
    def _mime_type(self) -> str:
        """As vision_models: the format's MIME type, ``image/jpeg`` when it cannot tell."""
        return self.mime_type or "image/jpeg"

    def show(self) -> None:
        """Display the image in a notebook (IPython); elsewhere it does nothing, as vision_models'."""
        try:  # IPython is not a dependency: imported by name, only where a notebook has it
            display = importlib.import_module("IPython.display").display
        except ImportError:
            return
        display(self._pil_image)


class Video(_Media):
    """A video, from bytes or from Cloud Storage."""

    _kind = "video"

    def __init__(self, video_bytes: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None):
        super().__init__(video_bytes, gcs_uri, name=name)

    @property
    def _video_bytes(self) -> bytes | None:
        return self._bytes

    @property
    def _mime_type(self) -> str:
        """As vision_models: ``video/mp4`` when the format cannot be told."""
        return self.mime_type or "video/mp4"


class Document(_Media):
    """A PDF document, from bytes or from Cloud Storage (gemini-embedding-2 reads up to 6 pages)."""

    _kind = "document"

    def __init__(self, pdf_bytes: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None):
        super().__init__(pdf_bytes, gcs_uri, name=name)


class Audio(_Media):
    """An audio clip (MP3 or WAV), from bytes or from Cloud Storage."""

    _kind = "audio"

    def __init__(self, audio_bytes: bytes | None = None, gcs_uri: str | None = None, *, name: str | None = None):
        super().__init__(audio_bytes, gcs_uri, name=name)


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
        if not self.interval_sec > 0:  # a step of 0 or less would never reach the end
            raise InvalidVideoError(f"video_segment_config.interval_sec={self.interval_sec!r} must be positive",
                                    input_name="video_segment_config")
        end = self.end_offset_sec if duration is None else min(self.end_offset_sec, duration)
        out: list[tuple[float, float]] = []
        # Each bound from the start and a multiple of the step, to the microsecond: summing the
        # step drifted (13.200000000000001), and the drift reached results and cache keys.
        k = 0
        while (t := float(round(self.start_offset_sec + k * self.interval_sec, 6))) < end - 1e-9:
            out.append((t, min(round(t + self.interval_sec, 6), end)))
            k += 1
        return out


ImageInput = Union[Image, str, "os.PathLike[str]", bytes]


def _foreign_media(obj: object, attr: str) -> tuple[bytes | None, str | None] | None:
    """Bytes and URI of a ``vertexai.vision_models`` Image/Video, read without importing it."""
    if hasattr(obj, "_gcs_uri") and (hasattr(obj, "_loaded_bytes") or hasattr(obj, attr)):
        uri = getattr(obj, "_gcs_uri", None)
        data = None if uri else getattr(obj, "_loaded_bytes", None)
        return data, uri
    return None


def _coerce(cls: type[M], x: object, foreign_attr: str | None = None) -> M:
    if isinstance(x, cls):
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return cls(bytes(x))
    if isinstance(x, (str, os.PathLike)):
        return cls.load_from_file(x)
    if foreign_attr is not None:
        foreign = _foreign_media(x, foreign_attr)
        if foreign is not None:
            return cls(foreign[0], foreign[1])
    raise TypeError(f"cannot use {type(x).__name__} as {'an' if cls._kind[0] in 'aeiou' else 'a'} {cls._kind}; "
                    f"pass a path, gs:// URI, bytes or {cls.__name__}")


def as_image(x: object) -> Image:
    """Coerce a path, ``gs://`` string, bytes, our Image or a vision_models Image into an Image."""
    return _coerce(Image, x, "_image_bytes")


def as_video(x: object) -> Video:
    """Coerce a path, ``gs://`` string, bytes, our Video or a vision_models Video into a Video."""
    return _coerce(Video, x, "_video_bytes")


def as_document(x: object) -> Document:
    """Coerce a path, ``gs://`` string, bytes or Document into a Document."""
    return _coerce(Document, x)


def as_audio(x: object) -> Audio:
    """Coerce a path, ``gs://`` string, bytes or Audio into an Audio."""
    return _coerce(Audio, x)
