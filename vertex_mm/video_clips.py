"""Cut a video into segment clips with PyAV (FFmpeg): how a model that embeds a whole video into
one vector gives ``multimodalembedding@001``'s per-segment vectors.

``multimodalembedding@001`` answers one vector per segment of a ``VideoSegmentConfig``.
``gemini-embedding-2`` embeds a whole video into one vector and has no segments, so
:class:`~vertex_mm.gemini.GeminiEmbedder` cuts the segments here, one MP4 clip each, and embeds
every clip on its own. The segments are the service's (:func:`segments_for`): ``[start, start +
interval)``, ..., within ``start .. min(end, start + 120 s)`` and the video's duration.

A clip holds the frames shown during its segment, re-encoded as H.264 (``yuv420p``, the source
frame rate and size, even sides) in an MP4 without audio: every frame is decoded once, in one
pass over the video, and each goes to the clip of its segment. A frame's time is its
presentation time from the stream's start. Anything FFmpeg cannot read becomes
:class:`~vertex_mm.errors.InvalidVideoError` naming the input. PyAV comes with the ``video``
extra (and the ``local`` one); it is imported when a video is opened, never with
:mod:`vertex_mm`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from ._optional import require
from .errors import InvalidVideoError
from .limits import MULTIMODAL_EMBEDDING_001
from .media import VideoSegmentConfig

__all__ = ["cut_clips", "open_video", "probe_duration", "segments_for", "video_frames"]

#: Encoder settings of the clips: x264's quality default (CRF 23) at a fast preset, since the
#: clips are read once by a model that samples frames, not watched.
CLIP_CODEC, CLIP_OPTIONS = "libx264", {"preset": "veryfast", "crf": "23"}


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
    return container


def probe_duration(container: Any) -> float | None:
    """Duration in seconds from the stream or container header; None when neither says."""
    stream = container.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / 1_000_000)
    return None


def video_frames(container: Any, name: str) -> Iterator[tuple[float, Any]]:
    """``(seconds from the stream's start, frame)`` of every decoded frame, in order."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    try:
        for frame in container.decode(stream):
            if frame.time is not None:
                yield frame.time - start, frame
    except Exception as exc:
        raise InvalidVideoError(f"{name}: video cannot be decoded: {exc}", input_name=name) from exc


def segments_for(config: VideoSegmentConfig | None, duration: float, name: str = "video") -> list[tuple[float, float]]:
    """The (start, end) segments the service returns for ``config`` on a ``duration`` s video."""
    config = config or VideoSegmentConfig()
    max_s = MULTIMODAL_EMBEDDING_001.max_video_seconds
    end = min(config.end_offset_sec, config.start_offset_sec + max_s)
    segs = VideoSegmentConfig(config.start_offset_sec, end, config.interval_sec).segments(duration)
    if not segs:
        raise InvalidVideoError(
            f"{name}: start_offset_sec={config.start_offset_sec:g} is at or past the end of the video ({duration:.3g} s)",
            input_name=name,
        )
    return segs


class _Clip:
    """One MP4 being written: frames in, bytes out."""

    def __init__(self, av: Any, rate: Fraction, width: int, height: int) -> None:
        self.buf = io.BytesIO()
        self.out = av.open(self.buf, mode="w", format="mp4")
        self.stream = self.out.add_stream(CLIP_CODEC, rate=rate, options=dict(CLIP_OPTIONS))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.rate = rate
        self.frames = 0

    def add(self, frame: Any) -> None:
        image = frame.reformat(width=self.stream.width, height=self.stream.height, format="yuv420p")
        # Frames numbered at the clip's constant rate, from 0: the clip starts at its segment.
        image.pts, image.time_base = self.frames, 1 / self.rate
        for packet in self.stream.encode(image):
            self.out.mux(packet)
        self.frames += 1

    def close(self) -> bytes:
        for packet in self.stream.encode():
            self.out.mux(packet)
        self.out.close()
        return self.buf.getvalue()


def cut_clips(data: bytes, config: VideoSegmentConfig | None = None, *, name: str = "video",
              extra: str = "video") -> list[tuple[float, float, bytes]]:
    """``(start, end, mp4 bytes)`` of each segment of ``config`` (default: the service's, the
    first 120 s in 16 s segments) of the video ``data``, in order. A segment in which no frame
    starts shows the frame on screen at its start."""
    av = require(extra, "av", what="cutting a video into segments")
    container = open_video(data, name, extra=extra)
    try:
        duration = probe_duration(container)
        if duration is None:
            raise InvalidVideoError(f"{name}: the video states no duration, so its segments are unknown",
                                    input_name=name)
        spans = segments_for(config, duration, name)
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate) if stream.average_rate else Fraction(25)
        width = max(2, (stream.codec_context.width // 2) * 2)
        height = max(2, (stream.codec_context.height // 2) * 2)
        clips = [_Clip(av, rate, width, height) for _ in spans]
        last = None
        k = 0
        for t, frame in video_frames(container, name):
            while k < len(spans) and t >= spans[k][1] - 1e-6:
                if clips[k].frames == 0 and last is not None:
                    clips[k].add(last)  # nothing starts in this segment: the frame on screen
                k += 1
            if k >= len(spans):
                break
            if t >= spans[k][0] - 1e-6:
                if clips[k].frames == 0 and last is not None and t > spans[k][0] + 1e-6:
                    clips[k].add(last)  # the frame on screen when the segment starts
                clips[k].add(frame)
            last = frame
        for clip in clips[k:]:
            if clip.frames == 0:
                if last is None:
                    raise InvalidVideoError(f"{name}: no decodable video frames", input_name=name)
                clip.add(last)
        return [(s, e, clip.close()) for (s, e), clip in zip(spans, clips)]
    finally:
        container.close()
