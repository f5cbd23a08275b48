"""The one table of input limits, shared by the client, the local backend and the emulator.

Every check here runs before any network call and raises a typed :mod:`vertex_mm.errors`
error whose message names the input and the limit it broke. Formats are decided from the
bytes (magic numbers), never from a file name.

Text: ``multimodalembedding@001`` reads the first 32 tokens (about 32 words) of
``contextual_text``; the service silently truncates longer text, so does the local backend,
and vertex-mm does not reject it. :func:`text_token_estimate` lets a caller check ahead.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image as PILImage

from .errors import (
    ImageTooLargeError,
    InvalidDimensionError,
    InvalidImageError,
    InvalidTextError,
    InvalidURIError,
    InvalidVideoError,
    VideoTooLargeError,
)

__all__ = [
    "GEMINI_EMBEDDING_2",
    "IMAGE_SUFFIXES",
    "MULTIMODAL_EMBEDDING_001",
    "PAGE_IMAGE_SUFFIXES",
    "PDF_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ModelLimits",
    "check_dimension",
    "check_gcs_uri",
    "check_image_bytes",
    "check_text",
    "check_video_bytes",
    "check_video_segment",
    "decode_image",
    "limits_for",
    "sniff_image_format",
    "sniff_video_format",
    "text_token_estimate",
]

MB = 1024 * 1024

# Image formats the API accepts, keyed by Pillow's format name.
IMAGE_MIME_TYPES: dict[str, str] = {
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}

VIDEO_MIME_TYPES: dict[str, str] = {
    "AVI": "video/avi",
    "FLV": "video/x-flv",
    "MKV": "video/x-matroska",
    "MOV": "video/quicktime",
    "MP4": "video/mp4",
    "MPEG": "video/mpeg",
    "WEBM": "video/webm",
    "WMV": "video/x-ms-wmv",
}

# File-name suffixes, derived from the format tables above: what folder walkers pick up. The
# format itself is always decided from the bytes; a suffix only says which files to try.
_SUFFIXES_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "BMP": (".bmp",), "GIF": (".gif",), "JPEG": (".jpg", ".jpeg"), "PNG": (".png",), "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "AVI": (".avi",), "FLV": (".flv",), "MKV": (".mkv",), "MOV": (".mov",), "MP4": (".mp4", ".m4v"),
    "MPEG": (".mpeg", ".mpg", ".ts"), "WEBM": (".webm",), "WMV": (".wmv",),
}
#: Suffixes of the image formats the API accepts.
IMAGE_SUFFIXES: frozenset[str] = frozenset(s for f in IMAGE_MIME_TYPES for s in _SUFFIXES_BY_FORMAT[f])
#: Suffixes of scanned page images: the API's image formats plus TIFF, the scanners' format.
PAGE_IMAGE_SUFFIXES: frozenset[str] = IMAGE_SUFFIXES | frozenset(_SUFFIXES_BY_FORMAT["TIFF"])
#: Suffixes of the video containers the API accepts.
VIDEO_SUFFIXES: frozenset[str] = frozenset(s for f in VIDEO_MIME_TYPES for s in _SUFFIXES_BY_FORMAT[f])
PDF_SUFFIXES: frozenset[str] = frozenset({".pdf"})


@dataclass(frozen=True)
class ModelLimits:
    """What one embedding model accepts. Numbers follow the Vertex AI documentation."""

    model: str
    dimensions: tuple[int, ...]
    default_dimension: int
    video_dimensions: tuple[int, ...]
    image_formats: frozenset[str] = field(default_factory=lambda: frozenset(IMAGE_MIME_TYPES))
    video_formats: frozenset[str] = field(default_factory=lambda: frozenset(VIDEO_MIME_TYPES))
    max_image_bytes: int = 20 * MB
    # A decompression-bomb guard: Pillow's own default threshold. The service resizes to
    # 512x512 anyway, so nothing useful is lost above it.
    max_image_pixels: int = 89_478_485
    text_max_tokens: int = 32
    # Inline payload bound: the REST request limit minus base64 growth (4/3) and envelope.
    max_request_bytes: int = 30 * MB
    max_video_seconds: float = 120.0
    min_video_interval_sec: float = 4.0
    dimension_range: tuple[int, int] | None = None  # models with free (Matryoshka) dimensions

    @property
    def max_inline_video_bytes(self) -> int:
        return (self.max_request_bytes - 64 * 1024) * 3 // 4

    def allows_dimension(self, dimension: int, *, video: bool = False) -> bool:
        if video:
            return dimension in self.video_dimensions
        if self.dimension_range is not None:
            lo, hi = self.dimension_range
            return lo <= dimension <= hi
        return dimension in self.dimensions


MULTIMODAL_EMBEDDING_001 = ModelLimits(
    model="multimodalembedding@001",
    dimensions=(128, 256, 512, 1408),
    default_dimension=1408,
    video_dimensions=(1408,),
)

GEMINI_EMBEDDING_2 = ModelLimits(
    model="gemini-embedding-2",
    dimensions=(128, 256, 512, 768, 1536, 3072),
    default_dimension=3072,
    video_dimensions=(128, 256, 512, 768, 1536, 3072),
    image_formats=frozenset({"JPEG", "PNG", "WEBP"}),
    text_max_tokens=8192,
    dimension_range=(128, 3072),
)

_BY_MODEL = {lim.model: lim for lim in (MULTIMODAL_EMBEDDING_001, GEMINI_EMBEDDING_2)}


def limits_for(model: str) -> ModelLimits:
    """The limits of ``model``; unknown models (local ones) get multimodalembedding@001's."""
    return _BY_MODEL.get(model.split("/")[-1], MULTIMODAL_EMBEDDING_001)


def check_dimension(
    dimension: int | None, limits: ModelLimits = MULTIMODAL_EMBEDDING_001, *, video: bool = False
) -> int:
    """Return the dimension to use, or raise :class:`InvalidDimensionError`."""
    if dimension is None:
        if video and limits.default_dimension not in limits.video_dimensions:
            return limits.video_dimensions[0]
        return limits.default_dimension
    if isinstance(dimension, bool) or not isinstance(dimension, int):
        raise InvalidDimensionError(
            f"dimension must be an int, got {dimension!r} ({type(dimension).__name__})",
            input_name="dimension",
        )
    if not limits.allows_dimension(dimension, video=video):
        allowed = limits.video_dimensions if video else limits.dimensions
        what = "with video" if video else "for image and text"
        if limits.dimension_range and not video:
            lo, hi = limits.dimension_range
            allowed_s = f"{lo}..{hi}"
        else:
            allowed_s = ", ".join(map(str, allowed))
        raise InvalidDimensionError(
            f"dimension={dimension} is not supported {what} by {limits.model}; allowed: {allowed_s}",
            input_name="dimension",
        )
    return dimension


def sniff_image_format(data: bytes) -> str | None:
    """The image format from magic bytes (Pillow names), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "HEIF"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def check_image_bytes(
    data: bytes, limits: ModelLimits = MULTIMODAL_EMBEDDING_001, *, name: str = "image", decode: bool = True
) -> str:
    """Validate image bytes; return the MIME type. Checks size, format, pixel count and that
    the whole image decodes (a truncated JPEG fails here, not at the service)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImageError(f"{name}: image bytes must be bytes, got {type(data).__name__}", input_name=name)
    n = len(data)
    if n == 0:
        raise InvalidImageError(f"{name}: image is empty (0 bytes)", input_name=name)
    if n > limits.max_image_bytes:
        raise ImageTooLargeError(
            f"{name}: image is {n:,} bytes; {limits.model} accepts at most "
            f"{limits.max_image_bytes:,} bytes ({limits.max_image_bytes // MB} MB)",
            input_name=name,
        )
    fmt = sniff_image_format(bytes(data[:16]))
    allowed = ", ".join(sorted(limits.image_formats))
    if fmt is None:
        raise InvalidImageError(
            f"{name}: not a recognised image (first bytes {bytes(data[:8])!r}); {limits.model} accepts {allowed}",
            input_name=name,
        )
    if fmt not in limits.image_formats:
        raise InvalidImageError(
            f"{name}: {fmt} images are not supported by {limits.model}; it accepts {allowed}", input_name=name
        )
    if decode:
        _decode_check(bytes(data), limits, name)
    return IMAGE_MIME_TYPES[fmt]


def _decode_check(data: bytes, limits: ModelLimits, name: str) -> None:
    # DCT-domain downscaling to 1/8 still reads every entropy-coded byte, so truncation is
    # caught at a fraction of the cost of a full decode.
    decode_image(data, limits, name=name, draft_scale=8)


def decode_image(
    data: bytes,
    limits: ModelLimits = MULTIMODAL_EMBEDDING_001,
    *,
    name: str = "image",
    draft_size: int | None = None,
    draft_scale: int | None = None,
) -> "PILImage.Image":
    """Open and fully load image bytes under the pixel limit; raise typed errors.

    The one decoder of untrusted image bytes: the client's pre-flight check and the local
    backend both use it. ``draft_size`` / ``draft_scale`` let JPEGs decode at reduced DCT scale
    (at least ``draft_size`` px a side, or 1/``draft_scale`` of the original).
    """
    from PIL import Image as PILImage

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            img = PILImage.open(io.BytesIO(data))
            w, h = img.size
            if w * h > limits.max_image_pixels:
                raise ImageTooLargeError(
                    f"{name}: image is {w}x{h} = {w * h:,} pixels; the limit is "
                    f"{limits.max_image_pixels:,} pixels (decompression-bomb guard)",
                    input_name=name,
                )
            if img.format == "JPEG" and (draft_size or draft_scale):
                target = (draft_size, draft_size) if draft_size else (max(1, w // draft_scale), max(1, h // draft_scale))  # type: ignore[operator]
                img.draft("RGB", target)
            img.load()
            return img
    except ImageTooLargeError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{name}: {exc}", input_name=name) from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for corrupt data
        raise InvalidImageError(f"{name}: image cannot be decoded: {exc}", input_name=name) from exc


def sniff_video_format(data: bytes) -> str | None:
    """The container format from magic bytes, or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "MOV" if data[8:10] == b"qt" else "MP4"
    if len(data) >= 8 and data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "MOV"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "WEBM" if b"webm" in data[:64] else "MKV"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "AVI"
    if data.startswith(b"FLV"):
        return "FLV"
    if data[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "MPEG"
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:  # MPEG transport stream
        return "MPEG"
    if data.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "WMV"
    return None


def check_video_bytes(data: bytes, limits: ModelLimits = MULTIMODAL_EMBEDDING_001, *, name: str = "video") -> str:
    """Validate inline video bytes; return the MIME type."""
    n = len(data)
    if n == 0:
        raise InvalidVideoError(f"{name}: video is empty (0 bytes)", input_name=name)
    if n > limits.max_inline_video_bytes:
        raise VideoTooLargeError(
            f"{name}: video is {n:,} bytes; inline video is limited to {limits.max_inline_video_bytes:,} "
            f"bytes by the request size. Upload it and pass Video(gcs_uri='gs://...') instead",
            input_name=name,
        )
    fmt = sniff_video_format(bytes(data[:512]))
    if fmt is None or fmt not in limits.video_formats:
        allowed = ", ".join(sorted(limits.video_formats))
        raise InvalidVideoError(
            f"{name}: not a recognised video container (first bytes {bytes(data[:8])!r}); accepted: {allowed}",
            input_name=name,
        )
    return VIDEO_MIME_TYPES[fmt]


def check_video_segment(
    start: float, end: float, interval: float, limits: ModelLimits = MULTIMODAL_EMBEDDING_001
) -> None:
    """Validate a VideoSegmentConfig. At most ``max_video_seconds`` are analysed per request."""
    name = "video_segment_config"
    for label, v in (("start_offset_sec", start), ("end_offset_sec", end), ("interval_sec", interval)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise InvalidVideoError(f"{name}.{label} must be a number, got {v!r}", input_name=name)
    if start < 0:
        raise InvalidVideoError(f"{name}.start_offset_sec={start} must be >= 0", input_name=name)
    if end <= start:
        raise InvalidVideoError(
            f"{name}.end_offset_sec={end} must be greater than start_offset_sec={start}", input_name=name
        )
    if interval < limits.min_video_interval_sec:
        raise InvalidVideoError(
            f"{name}.interval_sec={interval} is below the minimum of {limits.min_video_interval_sec:g} s",
            input_name=name,
        )
    if end - start > limits.max_video_seconds:
        raise InvalidVideoError(
            f"{name}: {end - start:g} s requested ({start:g}..{end:g}); at most "
            f"{limits.max_video_seconds:g} s are analysed per request. Split the video into several requests",
            input_name=name,
        )


_GCS_URI = re.compile(r"^gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(?P<object>[^\r\n]+)$")


def check_gcs_uri(uri: str, *, name: str = "gcs_uri") -> str:
    """Validate a ``gs://bucket/object`` URI (bucket naming rules, non-empty object)."""
    if not isinstance(uri, str):
        raise InvalidURIError(f"{name}: expected a gs:// URI string, got {type(uri).__name__}", input_name=name)
    m = _GCS_URI.match(uri)
    if not m or ".." in m.group("bucket") or m.group("object").endswith("/"):
        raise InvalidURIError(
            f"{name}: {uri!r} is not a well-formed Cloud Storage URI; expected gs://BUCKET/OBJECT "
            "(bucket: 3-222 chars of a-z 0-9 . _ -, object: non-empty, not a folder)",
            input_name=name,
        )
    return uri


_TOKEN = re.compile(r"\w+|[^\w\s]")


def text_token_estimate(text: str) -> int:
    """A rough token count (words and punctuation). The service counts subword tokens, so
    this is a lower bound."""
    return len(_TOKEN.findall(text))


def check_text(text: str, *, name: str = "contextual_text", max_chars: int = 1_000_000) -> str:
    """Validate text: a non-empty string. Text beyond the model's token limit is not an error:
    the model reads only the first ``text_max_tokens`` tokens (the service truncates)."""
    if not isinstance(text, str):
        raise InvalidTextError(f"{name}: expected str, got {type(text).__name__}", input_name=name)
    if not text.strip():
        raise InvalidTextError(f"{name}: text is empty", input_name=name)
    if len(text) > max_chars:
        raise InvalidTextError(f"{name}: text is {len(text):,} characters; the limit is {max_chars:,}", input_name=name)
    return text
