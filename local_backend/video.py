"""Video embeddings the way ``multimodalembedding@001`` returns them, from real video files.

Semantics (those of the service):

* ``VideoSegmentConfig(start_offset_sec, end_offset_sec, interval_sec)``; the default is the
  first 120 s in 16 s segments. At most 120 s are analysed per request.
* Segments are ``[start, start + interval)``, ..., clipped to the video's duration: a 10 s
  video with the default config gives one segment, 0..10.

Local method: frames are sampled at ``video_fps`` per second (default 1), centred in equal
sub-intervals of each segment, at least one and at most ``max_frames_per_segment`` per
segment. A frame sampled at time t is the one on screen at t. A segment's vector is the
L2-normalised mean of its frames' image vectors, so a segment lives in the same space as images.

Decoding uses PyAV (FFmpeg) through :mod:`vertex_mm.video_clips`, which also cuts the same
segments into clips for a model without segments. Anything FFmpeg cannot read becomes
:class:`~vertex_mm.errors.InvalidVideoError` naming the input.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image as PILImage

from vertex_mm.errors import InvalidVideoError
from vertex_mm.media import VideoSegmentConfig
from vertex_mm.video_clips import measured_duration, open_video, probe_duration, segments_for, video_frames

from .models.base import l2_normalize

if TYPE_CHECKING:
    from .embedder import LocalEmbedder

__all__ = ["MAX_FRAME_SIDE", "embed_video", "probe_duration", "sample_times", "segments_for"]

#: Frames are shrunk to this long side while decoding: the image towers see 224-384 px, and a
#: 4K frame kept whole costs 24 MB.
MAX_FRAME_SIDE = 512
#: Frames embedded per forward pass.
FRAME_BATCH = 8


def sample_times(start: float, end: float, fps: float, max_frames: int) -> list[float]:
    """Frame times for one segment: ``ceil(length * fps)`` (1..max_frames) centred samples."""
    n = min(max(1, math.ceil((end - start) * fps - 1e-9)), max_frames)
    step = (end - start) / n
    return [start + (j + 0.5) * step for j in range(n)]


def _open(data: bytes, name: str) -> Any:
    return open_video(data, name, extra="local")


def _small_image(frame: Any) -> Any:
    """A decoded frame as an RGB PIL image at most :data:`MAX_FRAME_SIDE` on its long side,
    scaled by FFmpeg straight from the decoder's planes (no full-resolution RGB copy)."""
    w, h = frame.width, frame.height
    scale = min(1.0, MAX_FRAME_SIDE / max(w, h, 1))
    img = frame.to_image(width=max(1, round(w * scale)), height=max(1, round(h * scale)))
    # A phone's portrait video is stored landscape with a display rotation (degrees
    # counter-clockwise, as PIL turns): shown upright, as players show it (and as the clips
    # sent to the service keep it), not sideways.
    turn = _TURNS.get(int(getattr(frame, "rotation", 0) or 0) % 360)
    return img.transpose(turn) if turn is not None else img


_TURNS = {90: PILImage.Transpose.ROTATE_90, 180: PILImage.Transpose.ROTATE_180, 270: PILImage.Transpose.ROTATE_270}


def _pick_frames(container: Any, times: list[float], name: str) -> tuple[list[Any], float]:
    """The frame on screen at each of the sorted ``times``, as small RGB PIL images, and the
    time the last frame decoded leaves the screen (:func:`_frame_end`).

    Only the last decoded frame is kept at full resolution; a picked frame is shrunk the
    moment it is picked, so memory follows the number of samples, not the video's size."""
    picked: list[Any] = []
    last = None
    last_t = 0.0
    last_small = None  # ``last`` shrunk, made once however many times it is picked
    k = 0
    for t, frame in video_frames(container, name):
        while k < len(times) and times[k] < t:
            # The previous frame is on screen at times[k] (before the first frame: this one).
            source = last if last is not None else frame
            if last_small is None or source is not last:
                last_small = _small_image(source)
            picked.append(last_small)
            k += 1
        if k >= len(times):
            last_t = _frame_end(container, frame, t)  # every time has a frame, and frames go on past them
            break
        last, last_small, last_t = frame, None, _frame_end(container, frame, t)
    if last is None:
        raise InvalidVideoError(f"{name}: no decodable video frames", input_name=name)
    if k < len(times):  # times past the last frame see the last frame
        tail = _small_image(last)
        picked.extend([tail] * (len(times) - k))
    return picked, last_t


def _frame_end(container: Any, frame: Any, t: float) -> float:
    """When ``frame`` (shown from ``t``) leaves the screen: its own duration where the file
    states one, else one average frame interval. A variable-rate video (a slideshow, a screen
    recording of a still screen) holds its last frame far longer than the average interval;
    taken as one interval, its later segments looked frameless and the file "truncated"."""
    rate = container.streams.video[0].average_rate
    end = t + (1 / float(rate) if rate else 0.0)
    duration, base = getattr(frame, "duration", None), getattr(frame, "time_base", None)
    if duration and base:
        end = max(end, t + float(duration * base))
    return end


def embed_video(embedder: "LocalEmbedder", data: bytes, name: str = "video",
                config: VideoSegmentConfig | None = None) -> list[tuple[float, float, np.ndarray]]:
    """Native-dimension segment vectors ``(start, end, vector)`` for one video's bytes."""
    container = _open(data, name)
    try:
        container, duration = measured_duration(container, data, name, extra="local")
        segs = segments_for(config, duration, name)
        per_seg = [sample_times(s, e, embedder.video_fps, embedder.max_frames_per_segment) for s, e in segs]
        flat = sorted(t for ts in per_seg for t in ts)
        frames, frames_end = _pick_frames(container, flat, name)
    finally:
        container.close()
    _refuse_frameless_segments(segs, frames_end, duration, name)
    by_time = dict(zip(flat, frames))
    vecs = _embed_frames(embedder, [by_time[t] for ts in per_seg for t in ts], name)
    out = []
    pos = 0
    for (s, e), ts in zip(segs, per_seg):
        out.append((s, e, l2_normalize(vecs[pos : pos + len(ts)].mean(axis=0))))
        pos += len(ts)
    return out


def _refuse_frameless_segments(segs: list[tuple[float, float]], frames_end: float, duration: float, name: str) -> None:
    """Refuse a video whose frames stop before a segment starts: a file cut short (an
    interrupted copy) states its whole length, and FFmpeg's threaded decoder stops at the damage
    without a word; such a segment would be the last frame over again, standing for nothing."""
    for s, _e in segs:
        if s >= frames_end - 1e-6:
            raise InvalidVideoError(
                f"{name}: the frames stop at {frames_end:.2f} s of a stated {duration:.2f} s (a truncated file?), "
                f"so segment {s:g}-{_e:g} s has none", input_name=name)


def _embed_frames(embedder: "LocalEmbedder", frames: list[Any], name: str) -> np.ndarray:
    model = embedder.local_model
    prepare = getattr(model, "prepare_image", None)
    fast = prepare is not None and hasattr(model, "encode_prepared")
    out = np.empty((len(frames), model.native_dim), np.float32)
    # A video is up to 120 frames: smaller forward passes keep the activations (about 14 MB a
    # frame for the CNN) from adding to the decoder's memory; the speed hardly changes.
    step = min(embedder.batch_size, FRAME_BATCH)
    for start in range(0, len(frames), step):
        chunk = frames[start : start + step]
        if fast:
            out[start : start + len(chunk)] = model.encode_prepared(np.stack([prepare(f) for f in chunk]))  # type: ignore[attr-defined,misc]
        else:
            out[start : start + len(chunk)] = model.encode_images(chunk)
    return out
