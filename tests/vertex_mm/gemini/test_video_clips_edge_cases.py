"""cut_clips edge cases: variable frame rate, one encoder open at a time, unchecked configs, rotation."""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import pytest

import vertex_mm.video_clips as video_clips
from vertex_mm import VideoSegmentConfig

av = pytest.importorskip("av")


def _vfr_mp4(times: list[float], size: tuple[int, int] = (32, 32)) -> bytes:
    """A real H.264 MP4 whose frames are shown at ``times`` (seconds): a variable frame rate."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def _last_frame_time(clip: bytes) -> float:
    with av.open(io.BytesIO(clip)) as container:
        return max(f.time for f in container.decode(container.streams.video[0]))


def test_a_variable_frame_rate_clip_spans_its_segment():
    # 1 fps for the first 16 s, then 10 fps: the clips are numbered at the average rate
    # (~5.2 fps), so the first 16 s segment became a 3.1 s clip and the second a 30.7 s one.
    times = [float(t) for t in range(16)] + [16 + i / 10 for i in range(160)]
    clips = video_clips.cut_clips(_vfr_mp4(times), VideoSegmentConfig(0, 32, 16))
    assert len(clips) == 2
    for (start, _end, clip), last_source_frame in zip(clips, (15.0, 31.9)):
        # the clip's last frame is shown when the source showed it, from the segment's start
        assert _last_frame_time(clip) == pytest.approx(last_source_frame - start, abs=0.05)


def test_a_clip_is_finished_once_the_cut_moves_past_its_segment(monkeypatch):
    # Every clip's x264 encoder stayed open (with its look-ahead frames) until the whole video was
    # decoded: 30 segments of a 2-minute 720p video held ~2.1 GB (peak RSS +2146 MB, 2 cores).
    open_now, most = [0], [0]
    real = video_clips._Clip

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])

        def close(self) -> bytes:
            open_now[0] -= 1
            return super().close()

    monkeypatch.setattr(video_clips, "_Clip", Counting)
    times = [i / 2 for i in range(2 * 40)]  # 40 s at 2 fps
    clips = video_clips.cut_clips(_vfr_mp4(times), VideoSegmentConfig(0, 40, 4))
    assert len(clips) == 10
    assert most[0] <= 2


@pytest.mark.parametrize("config", [(0, 2, 0), (0, 2, -4)])
def test_a_segment_config_that_never_ends_is_an_input_error_not_an_endless_list(config):
    # cut_clips/segments_for are public and do not check the config (EmbedRequest does):
    # interval_sec <= 0 made VideoSegmentConfig.segments loop, appending, until memory ran out.
    # Run in a child with 1 GiB of address space and a time limit, so the bug cannot take the machine.
    import resource
    import subprocess
    import sys

    code = ("import sys; from vertex_mm.video_clips import segments_for; from vertex_mm import VideoSegmentConfig\n"
            "from vertex_mm.errors import InvalidVideoError\n"
            f"try:\n    segments_for(VideoSegmentConfig{config!r}, 2.0)\n"
            "except InvalidVideoError as e:\n    print('typed:', e); sys.exit(0)\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                              preexec_fn=limit)
    except subprocess.TimeoutExpired:
        pytest.fail("segments_for did not return")
    assert done.returncode == 0 and "typed: video_segment_config.interval_sec" in done.stdout, done.stderr[-300:]


def test_a_clip_keeps_the_sources_display_rotation():
    # Phone videos are stored landscape with a display matrix (rotation 90): the clips were
    # encoded from the decoded frames with no rotation, so a portrait video reached the model sideways.
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height = 64, 32
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(90)
        for _ in range(8):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    def shown(data: bytes) -> tuple[int, int]:
        """(width, height) as a player shows the first frame."""
        with av.open(io.BytesIO(data)) as container:
            frame = next(container.decode(container.streams.video[0]))
            w, h = frame.width, frame.height
            return (h, w) if frame.rotation % 180 else (w, h)

    assert shown(buf.getvalue()) == (32, 64)  # portrait
    for _start, _end, clip in video_clips.cut_clips(buf.getvalue(), VideoSegmentConfig(0, 120, 4)):
        assert shown(clip) == (32, 64)
