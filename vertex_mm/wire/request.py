"""``EmbedRequest``: one validated request, what one service call carries.

Two shapes share the class:

* the ``multimodalembedding@001`` shape (``image`` / ``video`` / ``text``, each embedded on its
  own into one space: the ``vision_models`` call);
* a *content* (``content``): ordered parts embedded into one vector, the gemini-embedding-2
  shape, with the task that conditioned its text.

Both are built by classmethods that run every check of :mod:`vertex_mm.limits`, so a bad
input fails before any network call, and both hash to a content address for the cache.
"""

from __future__ import annotations

import hashlib
import math
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, cast

from ..content import Part, Task
from ..errors import (
    ImageTooLargeError,
    InputError,
    InvalidContentError,
    InvalidVideoError,
    UnsupportedInputError,
    VideoTooLargeError,
)
from ..limits import (
    MULTIMODAL_EMBEDDING_001,
    ContentLimits,
    ModelLimits,
    base64_size,
    check_dimension,
    check_image_bytes,
    check_request_size,
    check_text,
    check_video_bytes,
    check_video_segment,
    json_text_size,
)
from ..limits.content import (
    check_audio_bytes,
    check_content_counts,
    check_content_video_bytes,
    check_document_bytes,
    max_video_seconds,
)
from ..media import Audio, Document, Image, Video, VideoSegmentConfig

__all__ = ["MAX_VIDEO_FPS", "ContentPart", "EmbedRequest", "PartKind", "VideoSpan", "check_video_span", "guess_mime",
           "wire_number"]

PartKind = Literal["text", "image", "video", "document", "audio"]

_DEFAULT_MIME = {"image": "image/jpeg", "video": "video/mp4", "document": "application/pdf", "audio": "audio/mpeg"}


def guess_mime(media: Image | Video | Document | Audio) -> str:
    """The MIME type of a media part: from its bytes, else (a gs:// object, which the service
    needs one for) from the object name, else the kind's usual type."""
    if media.mime_type:
        return media.mime_type
    guessed, _ = mimetypes.guess_type(media.gcs_uri or "")
    prefix = {"image": "image/", "video": "video/", "document": "application/pdf", "audio": "audio/"}[media.kind]
    if guessed and guessed.startswith(prefix):
        return guessed
    return _DEFAULT_MIME[media.kind]


#: The largest ``videoMetadata.fps`` the service takes (google-genai / aiplatform ``VideoMetadata``:
#: "The valid range is (0.0, 24.0]"; 1.0 when not set).
MAX_VIDEO_FPS = 24.0


def format_duration(seconds: float) -> str:
    """``seconds`` as a proto JSON Duration (``10`` -> ``"10s"``, ``20.5`` -> ``"20.5s"``); a
    negative or non-finite value is an :class:`InputError` (no Duration spells it)."""
    value = float(seconds)
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"a video offset must be a duration of 0 s or more, got {seconds!r}", input_name="video_span")
    text = f"{value + 0.0:.9f}".rstrip("0").rstrip(".")  # + 0.0: -0.0 is "0s"
    return f"{text}s"


@dataclass(frozen=True)
class VideoSpan:
    """The part of a video a gemini-embedding-2 content embeds: its ``videoMetadata`` (google-genai
    ``types.VideoMetadata(start_offset="10s", end_offset="20s", fps=...)``). ``start`` / ``end``
    in seconds (None: the video's start / end); ``fps`` frames sampled per second (None: 1)."""

    start: float | None = None
    end: float | None = None
    fps: float | None = None

    @property
    def rate(self) -> float:
        """Frames per second the service samples (1 unless ``fps`` says otherwise)."""
        return self.fps if self.fps is not None else 1.0

    def seconds(self, duration: float | None) -> float | None:
        """Seconds embedded from a video of ``duration`` s (None: unknown, a gs:// video with no
        ``end``). An ``end`` past the video's end stops at it."""
        end = self.end if duration is None else duration if self.end is None else min(self.end, duration)
        return None if end is None else max(0.0, end - (self.start or 0.0))


def check_video_span(span: VideoSpan, duration: float | None, limits: ContentLimits, *, name: str = "video",
                     audio_track: bool = False) -> float | None:
    """The seconds ``span`` embeds of a video of ``duration`` s (None: not measured, a gs:// video),
    or :class:`InvalidVideoError`: ``fps`` in (0, 24], offsets not negative, ``end`` after ``start``,
    ``start`` inside the video, and the span within the model's video length at that rate
    (:func:`~vertex_mm.limits.content.max_video_seconds`: "Duration = 120 / FPS"; with audio
    track extraction 80 s at 1 fps, less at more frames a second)."""
    where = f"{name}: videoMetadata"
    if span.fps is not None and not (math.isfinite(span.fps) and 0 < span.fps <= MAX_VIDEO_FPS):
        raise InvalidVideoError(f"{where}.fps={span.fps!r}: must be in (0, {MAX_VIDEO_FPS:g}]", input_name=name)
    for label, value in (("start_offset", span.start), ("end_offset", span.end)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InvalidVideoError(f"{where}.{label}={value!r}: must be a duration of 0 s or more", input_name=name)
    start = span.start or 0.0
    if span.end is not None and span.end <= start:
        raise InvalidVideoError(f"{where}: end_offset {span.end:g}s must be after start_offset {start:g}s",
                                input_name=name)
    if duration is not None and start >= duration:
        raise InvalidVideoError(f"{where}: start_offset {start:g}s is at or past the end of the video "
                                f"({duration:.3g} s)", input_name=name)
    seconds = span.seconds(duration)
    # One rule for the check and the price estimate: the documented length at 1 fps, scaled by
    # what a second costs at this rate (frames still cost 66 tokens each with the audio track).
    limit = max_video_seconds(limits, span.rate, audio_track=audio_track)
    if seconds is not None and seconds > limit + 1e-6:
        with_audio = " with audio track extraction" if audio_track else ""
        raise InvalidVideoError(
            f"{where}: the span {start:g}s..{start + seconds:g}s is {seconds:.1f} s long; gemini-embedding-2 embeds "
            f"at most {math.floor(limit * 100) / 100:g} s of video at {span.rate:g} frame(s) per second{with_audio}",
            input_name=name)
    return seconds


@dataclass(frozen=True)
class ContentPart:
    """One validated part of a content. ``text`` is what is sent (the task's form applied);
    ``plain_text`` the caller's own words, for a model trained without task instructions.
    ``seconds`` / ``pages`` are measured for inline media (for a video with a ``span``: the
    seconds of the span). ``span``: the part of a video embedded (``videoMetadata``)."""

    kind: PartKind
    text: str | None = None
    media: Image | Video | Document | Audio | None = None
    mime: str | None = None
    seconds: float | None = None
    pages: int | None = None
    plain_text: str | None = field(default=None, compare=False)
    span: VideoSpan | None = None

    def digest(self) -> str:
        digest = self.media.sha256() if self.media is not None else hashlib.sha256((self.text or "").encode()).hexdigest()
        if self.span is None:
            return digest
        # Equal spans give one key however their numbers were written (10 and 10.0).
        span = self.span
        return digest + "@" + "/".join("-" if v is None else format_duration(v) for v in (span.start, span.end)) + (
            "" if span.fps is None else f"/fps={float(span.fps)!r}")


@dataclass(frozen=True)
class EmbedRequest:
    """One validated embedding request. Build it with :meth:`create` (the vision_models shape)
    or :meth:`create_content` (a content)."""

    image: Image | None = None
    video: Video | None = None
    text: str | None = None
    dimension: int = 1408
    video_segment_config: VideoSegmentConfig | None = None
    image_mime_type: str | None = None
    video_mime_type: str | None = None
    key: str | None = field(default=None, compare=False)
    content: tuple[ContentPart, ...] | None = None
    #: The task preset or custom instruction that formatted the content's text (its name).
    task: str | None = None
    audio_track_extraction: bool = False

    @classmethod
    def create(
        cls,
        *,
        image: Image | None = None,
        video: Video | None = None,
        contextual_text: str | None = None,
        dimension: int | None = None,
        video_segment_config: VideoSegmentConfig | None = None,
        limits: ModelLimits = MULTIMODAL_EMBEDDING_001,
        key: str | None = None,
        decode_check: bool = True,
        check_size: bool = True,
    ) -> EmbedRequest:
        """One ``get_embeddings`` request, every part checked. ``check_size=False`` skips the
        whole-request limit: for a backend that does not send the parts as one request (gemini
        sends each alone, local sends none), and for the emulator's rebuild with gs:// bytes
        inline (the request as received was sized before)."""
        if image is None and video is None and contextual_text is None:
            raise InputError("One of `image`, `video`, or `contextual_text` is required.")
        dim = check_dimension(dimension, limits, video=video is not None)
        image_mime = video_mime = None
        if image is not None:
            if not isinstance(image, Image):
                raise InputError(f"image must be a vertex_mm.Image, got {type(image).__name__}", input_name="image")
            if image.data is not None:
                image_mime = check_image_bytes(image.data, limits, name=image.name, decode=decode_check)
        if video is not None:
            if not isinstance(video, Video):
                raise InputError(f"video must be a vertex_mm.Video, got {type(video).__name__}", input_name="video")
            if video.data is not None:
                video_mime = check_video_bytes(video.data, limits, name=video.name)
                if limits.content is not None and video_segment_config is None:
                    # gemini-embedding-2 sends the whole video as one part: its length limit
                    # applies before a request is spent (the service answered 400).
                    check_content_video_bytes(video.data, limits.content, name=video.name)
            if video_segment_config is not None:
                video_segment_config = _analysed_span(video_segment_config, limits)
        elif video_segment_config is not None:
            raise InputError("video_segment_config was given without a video", input_name="video_segment_config")
        if contextual_text is not None:
            check_text(contextual_text)
        if check_size:
            _check_request_size(image, video, contextual_text, limits)
        return cls(image, video, contextual_text, dim, video_segment_config, image_mime, video_mime, key)

    @classmethod
    def create_content(
        cls,
        parts: Sequence[Part],
        *,
        limits: ModelLimits,
        dimension: int | None = None,
        task: Task | None = None,
        title: str | None = None,
        key: str | None = None,
        decode_check: bool = True,
        audio_track_extraction: bool = False,
        video_span: VideoSpan | None = None,
        check_size: bool = True,
    ) -> EmbedRequest:
        """A content request: ``parts`` in order (see :mod:`vertex_mm.content`), the task's
        form applied to the first text part, every part and the whole content checked.
        ``video_span`` embeds only that part of the content's video (:class:`VideoSpan`);
        ``check_size=False`` skips the whole-request limit (the emulator's rebuild of a request
        already sized as received, with its gs:// media now inline)."""
        if limits.content is None:
            raise UnsupportedInputError(
                f"{limits.model} embeds an image, a text or a video, not a content of several parts; "
                "use gemini-embedding-2 (get_embedder('gemini')) or the local backend", input_name="content")
        dim = check_dimension(dimension, limits)
        if title is not None and (task is None or "{title}" not in task.template):
            raise InputError("title= goes with task='retrieval_document'", input_name="title")
        built: list[ContentPart] = []
        pending_task = task  # formats the first text part only
        for i, part in enumerate(parts):
            where = f"parts[{i}]"
            if isinstance(part, str):
                check_text(part, name=where)
                text = pending_task.format(part, title=title) if pending_task is not None else part
                pending_task = None
                built.append(ContentPart("text", text=text, plain_text=part))
            elif isinstance(part, (Image, Video, Document, Audio)):
                span = video_span if isinstance(part, Video) else None
                built.append(_media_part(part, where, limits, decode_check, audio_track_extraction, span))
            else:
                raise InputError(f"{where}: {type(part).__name__} is not a content part", input_name=where)
        if video_span is not None and not any(p.kind == "video" for p in built):
            raise InputError("a video span (videoMetadata) was given, but the content has no video part",
                             input_name="video_span")
        check_content_counts([p.kind for p in built], limits.content)
        if check_size:
            check_request_size([(f"parts[{i}] ({p.kind})", _part_wire_size(p)) for i, p in enumerate(built)],
                               limits.content.max_request_bytes, model=limits.model, error=InvalidContentError)
        return cls(dimension=dim, key=key, content=tuple(built), task=task.name if task else None,
                   audio_track_extraction=audio_track_extraction)

    @property
    def is_content(self) -> bool:
        return self.content is not None

    def cache_key(self, model: str) -> str:
        """Content address: sha256 over bytes/URIs, text, model, dimension, segments and, for a
        content, every part in order and the task."""
        h = hashlib.sha256()
        fields = [
            model,
            str(self.dimension),
            self.image.sha256() if self.image else "",
            self.video.sha256() if self.video else "",
            self.text or "",
            repr(self.video_segment_config) if self.video_segment_config else "",
        ]
        if self.content is not None:
            fields += ["content", self.task or "", str(self.audio_track_extraction)]
            fields += [f"{p.kind}:{p.digest()}" for p in self.content]
        for part in fields:
            h.update(part.encode())
            h.update(b"\x00")
        return h.hexdigest()


def _check_request_size(image: Image | None, video: Video | None, text: str | None, limits: ModelLimits) -> None:
    """The whole ``:predict`` request within the model's request limit (each part alone is
    already within its own). The error is the kind of the inline media that must move to
    Cloud Storage: the video when there is one, else the image."""
    parts = [(name, base64_size(len(m.data))) for name, m in (("image", image), ("video", video))
             if m is not None and m.data is not None]
    if not parts:  # text alone is bounded by MAX_TEXT_CHARS, far below the limit
        return
    if text is not None:
        parts.append(("contextual_text", json_text_size(text)))
    error = VideoTooLargeError if any(name == "video" for name, _ in parts) else ImageTooLargeError
    check_request_size(parts, limits.max_request_bytes, model=limits.model, error=error)


def _part_wire_size(part: ContentPart) -> int:
    """What one content part adds to the request: its inline media as base64, or its text
    as a JSON string (a gs:// URI is a short string, counted in the envelope)."""
    if part.media is not None:
        return base64_size(len(part.media.data or b""))
    return json_text_size(part.text or "")


def _analysed_span(config: VideoSegmentConfig, limits: ModelLimits) -> VideoSegmentConfig:
    """``config`` checked, its end cut to ``start + max_video_seconds`` as the service does
    ("endOffsetSec is adjusted to min(startOffsetSec + 120, endOffsetSec)")."""
    c = config
    check_video_segment(c.start_offset_sec, c.end_offset_sec, c.interval_sec, limits)
    last = c.start_offset_sec + limits.max_video_seconds
    # The numbers as they are sent (wire_number): 8, 8.0 and np.float64(8) are one request, so
    # one cache key (cache_key keys the config by its repr), and plain Python numbers on the wire.
    return VideoSegmentConfig(wire_number(c.start_offset_sec), wire_number(min(c.end_offset_sec, last)),
                              wire_number(c.interval_sec))


def wire_number(x: float) -> int | float:
    """``x`` as a JSON number is written: an int when it is integral (``8.0`` -> ``8``), else a
    float; numpy numbers become Python ones."""
    return int(x) if float(x).is_integer() else float(x)


def _media_part(media: Image | Video | Document | Audio, where: str, limits: ModelLimits, decode_check: bool,
                audio_track: bool, span: VideoSpan | None = None) -> ContentPart:
    assert limits.content is not None
    name = media.name if not media.name.startswith("<") else where
    data = media.data
    if data is None:  # a gs:// object: the service measures it
        seconds = check_video_span(span, None, limits.content, name=name, audio_track=audio_track) if span else None
        return ContentPart(cast(PartKind, media.kind), media=media, mime=guess_mime(media), seconds=seconds, span=span)
    if isinstance(media, Video) and span is not None:
        # The span, not the whole video, is what must fit the model's video length.
        whole = replace(limits.content, max_video_seconds=math.inf)
        mime, duration = check_content_video_bytes(data, whole, name=name)
        seconds = check_video_span(span, duration, limits.content, name=name, audio_track=audio_track)
        return ContentPart("video", media=media, mime=mime, seconds=seconds, span=span)
    if isinstance(media, Image):
        return ContentPart("image", media=media, mime=check_image_bytes(data, limits, name=name, decode=decode_check))
    if isinstance(media, Video):
        mime, seconds = check_content_video_bytes(data, limits.content, name=name, audio_track=audio_track)
        return ContentPart("video", media=media, mime=mime, seconds=seconds)
    if isinstance(media, Document):
        mime, pages = check_document_bytes(data, limits.content, name=name)
        return ContentPart("document", media=media, mime=mime, pages=pages)
    mime, seconds = check_audio_bytes(data, limits.content, name=name)
    return ContentPart("audio", media=media, mime=mime, seconds=seconds)
