"""Cut a video into segment clips with PyAV (FFmpeg): how a model that embeds a whole video into
one vector gives ``multimodalembedding@001``'s per-segment vectors.

``multimodalembedding@001`` answers one vector per segment of a ``VideoSegmentConfig``.
``gemini-embedding-2`` answers one vector per request, so :class:`~vertex_mm.gemini.GeminiEmbedder`
cuts the segments of inline bytes here, one MP4 clip each, and embeds every clip on its own
(a gs:// video goes as its URI with each segment in ``videoMetadata`` instead). The segments are
the service's (:func:`segments_for`): ``[start, start + interval)``, ..., within ``start ..
min(end, start + 120 s)`` and the video's duration. :func:`cut_span` cuts one span the same way
(the emulator's ``videoMetadata``).

A clip holds the frames shown during its segment, re-encoded as H.264 (``yuv420p``, the source
size with even sides, each frame at its own time from the segment's start, so a variable frame
rate stays as it was, and the source's display rotation) in an MP4 without audio: every frame is
decoded once, in one pass over the video, and goes to the clip of its segment. A frame's time is
its presentation time from the stream's start. Anything FFmpeg cannot read becomes
:class:`~vertex_mm.errors.InvalidVideoError` naming the input. PyAV comes with the ``video``
extra (and the ``local`` one); it is imported when a video is opened, never with
:mod:`vertex_mm`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

from ._optional import require
from .errors import InvalidVideoError
from .limits import MULTIMODAL_EMBEDDING_001, check_video_segment
from .media import VideoSegmentConfig

__all__ = ["cut_clips", "cut_span", "measured_duration", "open_video", "probe_duration", "segments_for", "video_frames"]

#: Encoder settings of the clips: x264's quality default (CRF 23) at a fast preset, since the
#: clips are read once by a model that samples frames, not watched; one encoder thread, since a
#: clip is short (x264's threads pay on long encodes). The same video usually cuts to the same
#: bytes, but not always (seen in one test order): the embedding cache may miss on a rerun.
CLIP_CODEC, CLIP_OPTIONS = "libx264", {"preset": "veryfast", "crf": "23", "threads": "1"}


def open_video(data: bytes, name: str, *, extra: str = "video") -> Any:
    """A PyAV input container of ``data`` with at least one video stream (``extra``: the
    extra a missing PyAV is installed with)."""
    av = require(extra, "av", what="video")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # av.error.InvalidDataError and friends
        raise InvalidVideoError(f"{name}: video cannot be decoded: {exc}", input_name=name) from exc
    if not container.streams.video:
        container.close()
        raise InvalidVideoError(f"{name}: the file has no video stream", input_name=name)
    if container.streams.video[0].codec_context is None:  # a codec id FFmpeg has no decoder for
        container.close()
        raise InvalidVideoError(f"{name}: the video stream's codec cannot be decoded (unknown or damaged codec id)",
                                input_name=name)
    return container


def measured_duration(container: Any, data: bytes, name: str, *, extra: str = "video") -> tuple[Any, float]:
    """``(container, seconds)``: the header's duration, or, for a stream written live that states
    none (a browser's WebM), the end of its last video packet, found by reading the packets
    without decoding them (a 10-minute WebM: 0.1 s instead of 6 s decoded). Then the container
    returned is a fresh one (the read one is closed): a read stream cannot always seek back. On
    an error the caller still owns ``container`` and closes it."""
    stated = probe_duration(container)
    if stated is not None:
        return container, stated
    stream = container.streams.video[0]
    start = stream.start_time or 0
    # Live writers (MediaRecorder) often give packets no duration: count one frame for the last.
    frame = 1 / float(stream.average_rate) if stream.average_rate else 0.0
    end: float | None = None
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None or packet.size == 0:
                continue  # the flush packet at the end, or one without a time
            shown = float(packet.duration * packet.time_base) if packet.duration else frame
            end = max(end or 0.0, float((packet.pts - start) * packet.time_base) + shown)
    except Exception as exc:  # a damaged tail: keep what was read before it
        if end is None:
            raise InvalidVideoError(f"{name}: video cannot be read: {exc}", input_name=name) from exc
    if end is None:
        raise InvalidVideoError(f"{name}: no video frames (and no duration in the header)", input_name=name)
    container.close()
    return open_video(data, name, extra=extra), end


def probe_duration(container: Any) -> float | None:
    """Duration in seconds of the video stream from its header; None when it states none.

    Not the container's duration: in Matroska, WebM and FLV (no per-stream duration) that
    covers the audio too, and audio running past the picture gave a last segment of no frames."""
    stream = container.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def video_frames(container: Any, name: str, *, threads: bool = True) -> Iterator[tuple[float, Any]]:
    """``(seconds from the stream's start, frame)`` of every decoded frame, in order (decoded on
    several threads unless ``threads`` is False)."""
    stream = container.streams.video[0]
    if threads and not stream.codec_context.is_open:  # FFmpeg fixes the threading when the decoder opens
        stream.thread_type = "AUTO"
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    try:
        for frame in container.decode(stream):
            if frame.time is not None:
                yield frame.time - start, frame
    except Exception as exc:
        raise InvalidVideoError(f"{name}: video cannot be decoded: {exc}", input_name=name) from exc


def segments_for(config: VideoSegmentConfig | None, duration: float, name: str = "video") -> list[tuple[float, float]]:
    """The (start, end) segments the service returns for ``config`` on a ``duration`` s video
    (``config`` checked as the service checks it: :func:`~vertex_mm.limits.check_video_segment`)."""
    config = config or VideoSegmentConfig()
    check_video_segment(config.start_offset_sec, config.end_offset_sec, config.interval_sec, MULTIMODAL_EMBEDDING_001)
    max_s = MULTIMODAL_EMBEDDING_001.max_video_seconds
    end = min(config.end_offset_sec, config.start_offset_sec + max_s)
    segs = VideoSegmentConfig(config.start_offset_sec, end, config.interval_sec).segments(duration)
    if not segs:
        raise InvalidVideoError(
            f"{name}: start_offset_sec={config.start_offset_sec:g} is at or past the end of the video ({duration:.3g} s)",
            input_name=name,
        )
    return segs


#: Time base of the clips' timestamps: each frame keeps its time from the segment's start, to
#: the millisecond, so a variable frame rate survives the cut.
CLIP_TIME_BASE = Fraction(1, 1000)


class _Clip:
    """One MP4 being written: frames in (with their times from the clip's start), bytes out."""

    def __init__(self, av: Any, rate: Fraction, width: int, height: int, rotation: int) -> None:
        self.av = av
        self.buf = io.BytesIO()
        self.out = av.open(self.buf, mode="w", format="mp4")
        self.stream = self.out.add_stream(CLIP_CODEC, rate=rate, options=dict(CLIP_OPTIONS))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = CLIP_TIME_BASE
        if rotation:  # a phone's portrait video is stored landscape with a display rotation: keep it
            self.stream.set_display_rotation(rotation)
        self.frames = 0
        self.last_pts = -1

    def add(self, frame: Any, seconds: float) -> None:
        # A fresh frame holding only the pixels: a decoded frame also carries the source's picture
        # type (which the x264 wrapper reads as a forced key frame) and side data.
        pixels = frame.reformat(width=self.stream.width, height=self.stream.height, format="yuv420p").to_ndarray()
        image = self.av.VideoFrame.from_ndarray(pixels, format="yuv420p")
        pts = max(self.last_pts + 1, round(max(seconds, 0.0) / CLIP_TIME_BASE))
        image.pts, image.time_base = pts, CLIP_TIME_BASE
        for packet in self.stream.encode(image):
            self.out.mux(packet)
        self.frames, self.last_pts = self.frames + 1, pts

    def close(self) -> bytes:
        for packet in self.stream.encode():
            self.out.mux(packet)
        self.out.close()
        return self.buf.getvalue()

    def discard(self) -> None:
        """Free the encoder and its frames now (the cut failed), not at garbage collection."""
        try:
            self.out.close()
        except Exception:  # noqa: BLE001 - closing a half-written clip only frees it; its bytes are dropped
            pass


def cut_clips(data: bytes, config: VideoSegmentConfig | None = None, *, name: str = "video",
              extra: str = "video") -> list[tuple[float, float, bytes]]:
    """``(start, end, mp4 bytes)`` of each segment of ``config`` (default: the service's, the
    first 120 s in 16 s segments) of the video ``data``, in order. A segment in which no frame
    starts shows the frame on screen at its start. One clip is open at a time (an encoder holds
    frames of look-ahead): each is finished as the cut moves past its segment."""
    return _cut(data, lambda duration: segments_for(config, duration, name), name=name, extra=extra)


def cut_span(data: bytes, start: float = 0.0, end: float | None = None, *, name: str = "video",
             extra: str = "video") -> tuple[float, float, bytes]:
    """``(start, end, mp4 bytes)``: the one clip of ``data`` from ``start`` to ``end`` seconds
    (None, or past the video's end: to its end), cut as :func:`cut_clips` cuts a segment (how
    the emulator honours gemini-embedding-2's ``videoMetadata``). ``start`` at or past the end
    is :class:`InvalidVideoError`."""

    def span(duration: float) -> list[tuple[float, float]]:
        if start >= duration:
            raise InvalidVideoError(f"{name}: start offset {start:g} s is at or past the end of the video "
                                    f"({duration:.3g} s)", input_name=name)
        return [(start, duration if end is None else min(end, duration))]

    (clip,) = _cut(data, span, name=name, extra=extra)
    return clip


def _cut(data: bytes, spans_of: Callable[[float], list[tuple[float, float]]], *, name: str,
         extra: str) -> list[tuple[float, float, bytes]]:
    """The clips of the spans ``spans_of(duration)`` (in order, not overlapping), in one pass."""
    av = require(extra, "av", what="cutting a video into segments")
    container = open_video(data, name, extra=extra)
    try:
        container, duration = measured_duration(container, data, name, extra=extra)
        spans = spans_of(duration)
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate) if stream.average_rate else Fraction(25)
        width = max(2, (stream.codec_context.width // 2) * 2)
        height = max(2, (stream.codec_context.height // 2) * 2)
        done: list[bytes] = []
        clip: _Clip | None = None
        last = None  # the frame on screen: the last decoded one

        def finish() -> None:
            """Close segment ``len(done)``'s clip (from the frame on screen if none started in it)."""
            nonlocal clip
            if clip is None or clip.frames == 0:
                if last is None:
                    raise InvalidVideoError(f"{name}: no decodable video frames", input_name=name)
                clip = clip or _Clip(av, rate, width, height, int(getattr(last, "rotation", 0) or 0))
                clip.add(last, 0.0)
            done.append(clip.close())
            clip = None

        try:
            for t, frame in video_frames(container, name, threads=False):
                while len(done) < len(spans) and t >= spans[len(done)][1] - 1e-6:
                    finish()
                if len(done) >= len(spans):
                    break
                start = spans[len(done)][0]
                if t >= start - 1e-6:
                    if clip is None:
                        clip = _Clip(av, rate, width, height, int(getattr(frame, "rotation", 0) or 0))
                        if last is not None and t > start + 1e-6:
                            clip.add(last, 0.0)  # the frame on screen when the segment starts
                    clip.add(frame, t - start)
                last = frame
            while len(done) < len(spans):
                finish()
        finally:
            if clip is not None:
                clip.discard()  # a clip the cut could not finish (an error): free its encoder now
        return [(s, e, b) for (s, e), b in zip(spans, done)]
    finally:
        container.close()
