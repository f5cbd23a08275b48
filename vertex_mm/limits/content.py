"""Checks of what a gemini-embedding-2 *content* may hold: per-part formats, PDF page counts,
audio and video durations, parts per content (the table is
:class:`~vertex_mm.limits.ContentLimits`).

Durations are read from the container headers with mutagen and page counts with pypdfium2,
both core dependencies, so the checks run before the network on every install. Parts given as
``gs://`` URIs cannot be measured without downloading them: the service checks those.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from ..errors import InvalidAudioError, InvalidContentError, InvalidDocumentError, InvalidImageError, InvalidVideoError
from ..pdf import pdf_page_count
from .checks import check_has_video_track
from .formats import (
    AUDIO_MIME_TYPES,
    DOCUMENT_MIME_TYPES,
    VIDEO_MIME_TYPES,
    is_audio_only_mp4,
    sniff_audio_format,
    sniff_document_format,
    sniff_video_format,
)
from .models import ContentLimits

__all__ = [
    "TOKENS_PER_AUDIO_SECOND",
    "TOKENS_PER_IMAGE",
    "TOKENS_PER_TIMESTAMP_SECOND",
    "TOKENS_PER_VIDEO_FRAME",
    "check_audio_bytes",
    "check_content_counts",
    "check_content_video_bytes",
    "check_document_bytes",
    "max_video_seconds",
    "media_duration",
]

# [GUIDE] "API limits": how each modality counts against the shared 8192-token budget.
TOKENS_PER_IMAGE = 258  # and per PDF page ("rendered as an image")
TOKENS_PER_VIDEO_FRAME = 66  # one frame per second by default
TOKENS_PER_AUDIO_SECOND = 25
#: Timestamps added per second of video when audio track extraction is on ([GUIDE]).
TOKENS_PER_TIMESTAMP_SECOND = 10


def max_video_seconds(limits: ContentLimits, fps: float = 1.0, *, audio_track: bool = False) -> float:
    """The longest video (span) one content embeds at ``fps`` frames a second: the documented
    length at 1 fps (120 s; 80 s with audio track extraction) scaled by what a second costs
    at ``fps`` against 1 fps, so the token budget it spends stays the same. Without audio that
    is the guide's "Duration = 120 / FPS"; with it, a second costs ``66 * fps`` frame tokens
    plus 25 audio and 10 timestamp tokens, so 2 fps allows 48.4 s, not 80 (and the audio track,
    being audio, never goes past the audio limit)."""
    if not audio_track:
        return limits.max_video_seconds / fps
    extra = TOKENS_PER_AUDIO_SECOND + TOKENS_PER_TIMESTAMP_SECOND
    scale = (TOKENS_PER_VIDEO_FRAME + extra) / (TOKENS_PER_VIDEO_FRAME * fps + extra)
    return min(limits.max_video_seconds_with_audio * scale, limits.max_audio_seconds)


def media_duration(data: bytes, *, name: str, kind: str) -> float:
    """Seconds of an audio or video file, read from its headers (no decoding)."""
    import mutagen

    error = InvalidAudioError if kind == "audio" else InvalidVideoError
    try:
        parsed = mutagen.File(io.BytesIO(bytes(data)))
    except Exception as exc:  # mutagen raises its own MutagenError family and struct errors
        raise error(f"{name}: the {kind} file cannot be read: {exc}", input_name=name) from exc
    length = getattr(getattr(parsed, "info", None), "length", None)
    if not isinstance(length, (int, float)) or length != length or length < 0:
        raise error(f"{name}: the {kind} file has no readable duration (a damaged or empty file?)", input_name=name)
    if length == 0:  # a fragmented MP4 (browsers, OBS, DASH) states 0 s: 150 s passed the 120 s limit as free
        length = _demuxed_duration(data, name=name, kind=kind)
    return float(length)


def _demuxed_duration(data: bytes, *, name: str, kind: str) -> float:
    """Seconds of a file whose header states none, read by FFmpeg (PyAV) from its packets."""
    error = InvalidAudioError if kind == "audio" else InvalidVideoError
    try:
        import av
    except ImportError:
        raise error(f"{name}: the {kind} file's header states no duration (a fragmented MP4, as browsers and OBS "
                    "write, or a file with no samples), so its length cannot be checked", input_name=name,
                    hint="pip install 'vertex-mm[video]' (PyAV) measures it from its packets; or remux it: "
                         "ffmpeg -i IN -c copy -movflags +faststart OUT") from None
    try:
        with av.open(io.BytesIO(bytes(data)), mode="r") as container:
            seconds = [float(s.duration * s.time_base) for s in container.streams
                       if s.type in ("audio", "video") and s.duration is not None and s.time_base is not None]
            if container.duration is not None:
                seconds.append(container.duration / 1_000_000)
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise error(f"{name}: the {kind} file cannot be read: {exc}", input_name=name) from exc
    length = max(seconds, default=0.0)
    if not length > 0:
        raise error(f"{name}: the {kind} file has no samples (0 s long)", input_name=name)
    return length


def check_document_bytes(data: bytes, limits: ContentLimits, *, name: str = "document") -> tuple[str, int]:
    """``(mime type, pages)`` of a PDF part, or :class:`InvalidDocumentError`."""
    if not data:
        raise InvalidDocumentError(f"{name}: the document is empty (0 bytes)", input_name=name)
    if sniff_document_format(bytes(data[:1024])) is None:
        raise InvalidDocumentError(
            f"{name}: not a PDF (first bytes {bytes(data[:8])!r}); documents must be PDF files", input_name=name)
    pages = pdf_page_count(data, name=name)  # the one PDF opener, vertex_mm.pdf
    if pages > limits.max_document_pages:
        raise InvalidDocumentError(
            f"{name}: the PDF has {pages} pages; gemini-embedding-2 reads at most {limits.max_document_pages} "
            f"pages per document", input_name=name,
            hint=f"Split it into PDFs of at most {limits.max_document_pages} pages, or index its pages with "
                 "`vertex-mm pages index --embedder gemini` (one vector per page, or per --pages-per-vector pages)")
    if pages == 0:
        raise InvalidDocumentError(f"{name}: the PDF has no pages", input_name=name)
    return DOCUMENT_MIME_TYPES["PDF"], pages


def _format_and_duration(data: bytes, formats: frozenset[str] | set[str], *, name: str, kind: str,
                         container: str) -> tuple[str, float]:
    """The format (one of ``formats``) and seconds of an audio or video part, or the kind's error."""
    error = InvalidAudioError if kind == "audio" else InvalidVideoError
    if not data:
        raise error(f"{name}: the {kind} is empty (0 bytes)", input_name=name)
    if kind == "audio":  # audio in an MP4 of another brand than "M4A " is M4A too
        fmt = sniff_audio_format(bytes(data[:16])) or ("M4A" if is_audio_only_mp4(data) else None)
    else:
        fmt = sniff_video_format(bytes(data[:512]))
    if fmt is None or fmt not in formats:
        what = f"{fmt} {kind} is" if fmt else f"not a recognised {container} (first bytes {bytes(data[:8])!r});"
        raise error(f"{name}: {what} not accepted; gemini-embedding-2 takes {', '.join(sorted(formats))}",
                    input_name=name)
    return fmt, media_duration(data, name=name, kind=kind)


def check_audio_bytes(data: bytes, limits: ContentLimits, *, name: str = "audio") -> tuple[str, float]:
    """``(mime type, seconds)`` of an audio part, or :class:`InvalidAudioError`."""
    fmt, seconds = _format_and_duration(data, limits.audio_formats, name=name, kind="audio", container="audio file")
    slack = _mp3_codec_slack(data) if fmt == "MP3" else 0.0
    if seconds > limits.max_audio_seconds + slack:
        raise InvalidAudioError(
            f"{name}: the audio is {seconds:.1f} s long; gemini-embedding-2 takes at most "
            f"{limits.max_audio_seconds:g} s per content. Cut it into shorter clips", input_name=name)
    return AUDIO_MIME_TYPES[fmt], seconds


#: Samples an MP3 encoder adds before the audio (LAME: 576 + its 529-sample decoder delay).
_MP3_ENCODER_DELAY_SAMPLES = 576 + 529


def _mp3_codec_slack(data: bytes) -> float:
    """Seconds an MP3's header-based length may count beyond its audio: the encoder delay and
    the last frame's padding, which decoders drop (an MP3 of exactly 180 s measures 180.07 s
    when no LAME tag states them). Without this, a clip cut to the limit was refused."""
    import mutagen

    try:
        info = getattr(mutagen.File(io.BytesIO(bytes(data))), "info", None)
    except Exception:  # media_duration has read it already; nothing to allow if this cannot
        return 0.0
    rate = getattr(info, "sample_rate", None)
    if not isinstance(rate, int) or rate <= 0:
        return 0.0
    frame = 1152 if getattr(info, "version", None) == 1 else 576  # layer III samples per frame (MPEG-1; 2 / 2.5)
    return (_MP3_ENCODER_DELAY_SAMPLES + frame) / rate


def check_content_video_bytes(data: bytes, limits: ContentLimits, *, name: str = "video",
                              audio_track: bool = False) -> tuple[str, float]:
    """``(mime type, seconds)`` of a video part, or :class:`InvalidVideoError`. With
    ``audio_track`` (audio track extraction) the shorter limit applies."""
    fmt, seconds = _format_and_duration(data, limits.video_formats, name=name, kind="video",
                                        container="video container")
    check_has_video_track(data, fmt, name=name)
    limit = max_video_seconds(limits, audio_track=audio_track)
    if seconds > limit:
        with_audio = " with audio track extraction" if audio_track else ""
        raise InvalidVideoError(
            f"{name}: the video is {seconds:.1f} s long; gemini-embedding-2 embeds at most {limit:g} s{with_audio} "
            "(at 1 frame per second). Trim it, or embed it in several pieces", input_name=name)
    return VIDEO_MIME_TYPES[fmt], seconds


def check_content_counts(kinds: Sequence[str], limits: ContentLimits) -> None:
    """Parts per kind in one content: a typed :class:`InvalidContentError` (or the kind's own
    error) naming the count and the limit. The request's size is
    :func:`~vertex_mm.limits.request.check_request_size`'s."""
    if not kinds:
        raise InvalidContentError("a content needs at least one part (text, image, PDF, audio or video)")
    counts = {k: kinds.count(k) for k in set(kinds)}
    per_kind = {"image": (limits.max_images, InvalidImageError, "images"),
                "document": (limits.max_documents, InvalidDocumentError, "PDF documents"),
                "video": (limits.max_videos, InvalidVideoError, "videos"),
                "audio": (limits.max_audios, InvalidAudioError, "audio files")}
    for kind, (limit, error, plural) in per_kind.items():
        n = counts.get(kind, 0)
        if n > limit:
            first_extra = [i for i, k in enumerate(kinds) if k == kind][limit]
            raise error(f"content has {n} {plural}; gemini-embedding-2 takes at most {limit} per content "
                        f"(part #{first_extra} is one too many). Split it into several contents",
                        input_name=f"parts[{first_extra}]")
