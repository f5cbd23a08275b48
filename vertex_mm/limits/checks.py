"""The checks of single inputs: dimension, image bytes (decoded under a pixel cap), video
bytes and segments, text, ``gs://`` URIs. Each raises a typed :mod:`vertex_mm.errors` error whose
message names the input and the limit it broke, before any network call.

Text: ``multimodalembedding@001`` reads the first 32 tokens (about 32 words) of
``contextual_text``; the service silently truncates longer text, so does the local backend,
and vertex-mm does not reject it. :func:`text_token_estimate` lets a caller check ahead.
"""

from __future__ import annotations

import io
import math
import numbers
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image as PILImage

from ..errors import (
    ImageTooLargeError,
    InputError,
    InvalidDimensionError,
    InvalidImageError,
    InvalidTextError,
    InvalidURIError,
    InvalidVideoError,
    VideoTooLargeError,
)
from .formats import (
    IMAGE_MIME_TYPES,
    IMAGE_SNIFF_BYTES,
    OPTIONAL_DECODER_FORMATS,
    VIDEO_MIME_TYPES,
    is_audio_only_mp4,
    iso_boxes,
    pillow_decodes,
    sniff_image_format,
    sniff_video_format,
)
from .models import MB, MULTIMODAL_EMBEDDING_001, ModelLimits

__all__ = [
    "check_dimension",
    "check_has_video_track",
    "check_gcs_uri",
    "check_image_bytes",
    "check_text",
    "check_video_bytes",
    "check_video_segment",
    "decode_image",
    "MAX_TEXT_CHARS",
    "text_token_estimate",
]


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
        if limits.dimension_range:
            lo, hi = limits.dimension_range
            allowed_s, what = f"{lo}..{hi}", "for any input"
        else:
            allowed_s = ", ".join(map(str, allowed))
        raise InvalidDimensionError(
            f"dimension={dimension} is not supported {what} by {limits.model}; allowed: {allowed_s}",
            input_name="dimension",
        )
    return dimension


def _check_size(n: int, limit: int, empty: type[InputError], too_large: type[InputError], *, name: str, kind: str,
                why: str) -> None:
    """Refuse an empty input, or one of more than ``limit`` bytes (``why`` names the limit)."""
    if n == 0:
        raise empty(f"{name}: {kind} is empty (0 bytes)", input_name=name)
    if n > limit:
        raise too_large(f"{name}: {kind} is {n:,} bytes; {why}", input_name=name)


def check_image_bytes(
    data: bytes, limits: ModelLimits = MULTIMODAL_EMBEDDING_001, *, name: str = "image", decode: bool = True
) -> str:
    """Validate image bytes; return the MIME type. Checks size, format, pixel count, side
    length and that the whole image decodes (a truncated JPEG fails here, not at the service).

    A HEIC/HEIF/AVIF image that the installed Pillow cannot decode (no libavif, no
    pillow-heif) is not refused for that: the service decodes it. Only the checks that need
    pixels are skipped; its size is still read from the container (:func:`heif_image_size`)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImageError(f"{name}: image bytes must be bytes, got {type(data).__name__}", input_name=name)
    _check_size(len(data), limits.max_image_bytes, InvalidImageError, ImageTooLargeError, name=name, kind="image",
                why=f"{limits.model} accepts at most {limits.max_image_bytes:,} bytes ({limits.max_image_bytes // MB} MB)")
    fmt = sniff_image_format(bytes(data[:IMAGE_SNIFF_BYTES]))
    allowed = ", ".join(sorted(limits.image_formats))
    if fmt is None:
        raise InvalidImageError(
            f"{name}: not a recognised image (first bytes {bytes(data[:8])!r}); {limits.model} accepts {allowed}",
            input_name=name,
        )
    if fmt not in limits.image_formats:
        # A phone's HEIC/HEIF/AVIF photo: say how to get it in (gemini-embedding-2 takes them as they are).
        convert = (f"; convert it to JPEG or PNG, or embed it with gemini-embedding-2, which takes {fmt}"
                   if fmt in OPTIONAL_DECODER_FORMATS else "")
        raise InvalidImageError(
            f"{name}: {fmt} images are not supported by {limits.model}; it accepts {allowed}{convert}", input_name=name
        )
    if decode and pillow_decodes(fmt):
        _decode_check(bytes(data), limits, name)
    elif decode and (size := heif_image_size(bytes(data))) is not None:
        _check_pixels(*size, limits, name)
    return IMAGE_MIME_TYPES[fmt]


def heif_image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a HEIF-family image (HEIC, HEIF, AVIF) from the ``ispe`` (image
    spatial extents) properties of its ``meta`` box (meta > iprp > ipco > ispe), without decoding:
    the largest one, which is the full image's (thumbnails and grid tiles are smaller). Only
    those boxes are read, never the coded data (``mdat``), where the four letters may occur by
    chance. None when there is no ``ispe``."""
    sizes = []
    for kind, body, box_end in iso_boxes(data, 0, len(data)):
        if kind != b"meta":
            continue
        for iprp, iprp_body, iprp_end in iso_boxes(data, body + 4, box_end):  # meta is a full box
            for ipco, ipco_body, ipco_end in (iso_boxes(data, iprp_body, iprp_end) if iprp == b"iprp" else ()):
                for prop, p_body, p_end in (iso_boxes(data, ipco_body, ipco_end) if ipco == b"ipco" else ()):
                    if prop == b"ispe" and p_end - p_body >= 12:  # version+flags, width, height
                        sizes.append((int.from_bytes(data[p_body + 4:p_body + 8], "big"),
                                      int.from_bytes(data[p_body + 8:p_body + 12], "big")))
        break  # one meta box at the top level
    return max(sizes, key=lambda wh: wh[0] * wh[1]) if sizes else None


def _check_pixels(w: int, h: int, limits: ModelLimits, name: str) -> None:
    """The checks of an image's size: its pixel count, then (where the model has one) its side."""
    if w * h > limits.max_image_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {w}x{h} = {w * h:,} pixels; the limit is "
            f"{limits.max_image_pixels:,} pixels (decompression-bomb guard)",
            input_name=name,
        )
    side = limits.max_image_side
    if side is not None and max(w, h) > side:
        raise ImageTooLargeError(
            f"{name}: image is {w}x{h} pixels; {limits.model} takes at most {side}x{side} pixels per image. "
            f"Downscale it so that no side exceeds {side} px", input_name=name,
        )


#: Pillow's DecompressionBombError / Warning text: "Image size (N pixels) exceeds limit of ...".
_PILLOW_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


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
    """Open and fully load image bytes under the pixel (and side) limit; raise typed errors.

    The one decoder of untrusted image bytes: the client's pre-flight check and the local
    backend both use it. ``draft_size`` / ``draft_scale`` let JPEGs decode at reduced DCT scale
    (at least ``draft_size`` px a side, or 1/``draft_scale`` of the original).
    """
    from PIL import Image as PILImage

    try:
        # No warnings filter here: catch_warnings swaps the process-wide filter list, and from
        # the local backend's decode threads one thread restored another's "error" filter, which
        # then made the user's own Pillow code raise. Above Pillow's limit (ours too) open()
        # warns and _check_pixels refuses; above twice that, open() raises.
        img = PILImage.open(io.BytesIO(data))
        w, h = img.size
        _check_pixels(w, h, limits, name)  # from the header, before any pixel is decoded
        if img.format == "JPEG" and (draft_size or draft_scale):
            target = (draft_size, draft_size) if draft_size else (max(1, w // draft_scale), max(1, h // draft_scale))  # type: ignore[operator]
            img.draft("RGB", target)
        img.load()
        return img
    except ImageTooLargeError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        # Pillow checks the header's size inside open(), before our check above sees it, and
        # words it with its own (doubled) limit; say it with ours.
        found = _PILLOW_BOMB_PIXELS.search(str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "larger than Pillow's own limit"
        raise ImageTooLargeError(
            f"{name}: image is {size}; the limit is {limits.max_image_pixels:,} pixels (decompression-bomb guard)",
            input_name=name,
        ) from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for corrupt data
        raise InvalidImageError(f"{name}: image cannot be decoded: {exc}", input_name=name) from exc


def check_video_bytes(data: bytes, limits: ModelLimits = MULTIMODAL_EMBEDDING_001, *, name: str = "video") -> str:
    """Validate inline video bytes; return the MIME type."""
    _check_size(len(data), limits.max_inline_video_bytes, InvalidVideoError, VideoTooLargeError, name=name,
                kind="video", why=f"inline video is limited to {limits.max_inline_video_bytes:,} bytes by the "
                "request size (the local backend keeps it too). Make it smaller, or for vertex/gemini upload it to Cloud "
                "Storage and pass Video(gcs_uri='gs://...')")
    fmt = sniff_video_format(bytes(data[:512]))
    if fmt is None or fmt not in limits.video_formats:
        allowed = ", ".join(sorted(limits.video_formats))
        raise InvalidVideoError(
            f"{name}: not a recognised video container (first bytes {bytes(data[:8])!r}); accepted: {allowed}",
            input_name=name,
        )
    check_has_video_track(data, fmt, name=name)
    return VIDEO_MIME_TYPES[fmt]


def check_has_video_track(data: bytes, fmt: str, *, name: str = "video") -> None:
    """Refuse an MP4 / MOV holding sound and no picture (M4A, what ``ffmpeg -c:a aac out.mp4``
    writes): sent as a video it would be priced as one and embedded as who knows what."""
    if fmt in ("MP4", "MOV") and is_audio_only_mp4(data):
        raise InvalidVideoError(
            f"{name}: the {fmt} file has no video track, only sound (audio in an MP4 container: M4A/AAC)",
            input_name=name, hint="Pass it as audio: gemini-embedding-2 takes MP3 or WAV "
                                  "(ffmpeg -i IN.m4a OUT.mp3), then Audio(...)")


def check_video_segment(
    start: float, end: float, interval: float, limits: ModelLimits = MULTIMODAL_EMBEDDING_001
) -> None:
    """Validate a VideoSegmentConfig. A span longer than ``max_video_seconds`` is not an error:
    the service analyses ``start .. min(end, start + max_video_seconds)`` (the API reference's
    ``endOffsetSec`` rule); :class:`~vertex_mm.wire.EmbedRequest` cuts it the same way."""
    name = "video_segment_config"
    for label, v in (("start_offset_sec", start), ("end_offset_sec", end), ("interval_sec", interval)):
        # numbers.Real: numpy's numbers too (np.int64 from a dataframe); JSON has no NaN or
        # Infinity, so only the end, which is cut to start + 120 s, may be infinite.
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or v != v:
            raise InvalidVideoError(f"{name}.{label} must be an int or float, got {v!r}", input_name=name)
        if label != "end_offset_sec" and not math.isfinite(v):
            raise InvalidVideoError(f"{name}.{label} must be a finite number, got {v!r}", input_name=name)
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


# \Z, not $: "$" also matches before a trailing newline, which would let "gs://b/o\n" through.
_GCS_URI = re.compile(r"\Ags://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/(?P<object>[^\r\n]+)\Z")


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


#: A bound on one text's length, far above any model's token limit: larger is a mistake.
MAX_TEXT_CHARS = 1_000_000


def check_text(text: str, *, name: str = "contextual_text", max_chars: int = MAX_TEXT_CHARS) -> str:
    """Validate text: a non-empty string. Text beyond the model's token limit is not an error:
    the model reads only the first ``text_max_tokens`` tokens (the service truncates)."""
    if not isinstance(text, str):
        raise InvalidTextError(f"{name}: expected str, got {type(text).__name__}", input_name=name)
    if not text.strip():
        raise InvalidTextError(f"{name}: text is empty", input_name=name)
    if len(text) > max_chars:
        raise InvalidTextError(f"{name}: text is {len(text):,} characters; the limit is {max_chars:,}", input_name=name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone UTF-16 surrogate: no service or tokenizer takes it
        raise InvalidTextError(
            f"{name}: text cannot be encoded as UTF-8 at character {exc.start} ({text[exc.start]!r}: a lone "
            "surrogate, usually from text decoded with errors='surrogateescape'); clean it first", input_name=name,
        ) from exc
    return text
