"""gemini-embedding-2 video segments of an inline video: cut locally vs. sent as videoMetadata.

GeminiEmbedder answers a ``video_segment_config`` with one request per segment. For inline
bytes there are two ways: cut each segment into its own MP4 clip with PyAV and send the clip
(what it does), or send the whole video with every request and name the segment in
``videoMetadata`` (what it does for gs:// videos, which it never downloads). This measures,
on a synthetic video with texture and motion (a moving gradient with sensor-like noise, encoded
by x264 at ``--crf``): the bytes each way puts on the wire (before base64, which grows both by
4/3), the CPU time of the cut, and what the cut's re-encoding costs in fidelity (PSNR of the
clips' frames against the source frames shown at the same times).

Run:  python benchmarks/bench_video_segments.py [--seconds 60] [--interval 16] [--width 640]
Last line: ``RESULT bytes_ratio=… cut_s=… cut_s_per_video_s=… psnr_db=… source_mb=… clips_mb=…``
(``bytes_ratio``: bytes sent with videoMetadata / bytes sent as cut clips; above 1 means the cut
sends less).
"""

from __future__ import annotations

import io
import math

import numpy as np
from _machine import machine_line, timed
from _options import benchmark_parser

from vertex_mm import VideoSegmentConfig
from vertex_mm.video_clips import cut_clips, open_video, video_frames


def synthetic_video(seconds: float, fps: int, width: int, height: int, crf: int) -> bytes:
    import av

    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            t = i / fps
            base = 0.5 + 0.5 * np.sin(2 * math.pi * (x * 3 + y * 2 + t * np.array([0.2, 0.3, 0.5])))
            frame = np.clip(base * 235 + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def frames(data: bytes) -> list[tuple[float, np.ndarray]]:
    container = open_video(data, "video")
    try:
        return [(t, f.to_ndarray(format="rgb24").astype(np.float64)) for t, f in video_frames(container, "video")]
    finally:
        container.close()


def psnr(clips: list[tuple[float, float, bytes]], source: bytes) -> float:
    """Mean PSNR of every clip frame against the source frame shown at its time."""
    src = frames(source)
    times = np.asarray([t for t, _ in src])
    scores = []
    for start, _, clip in clips:
        for t, frame in frames(clip):
            ref = src[int(np.searchsorted(times, start + t + 1e-6, side="right")) - 1][1]
            mse = float(np.mean((frame - ref) ** 2))
            scores.append(99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse))
    return float(np.mean(scores))


def main() -> None:
    parser = benchmark_parser(__doc__, seconds=60.0, interval=16.0, fps=24, width=640, height=360, crf=20)
    args = parser.parse_args()
    print(machine_line())
    source = synthetic_video(args.seconds, args.fps, args.width, args.height, args.crf)
    config = VideoSegmentConfig(0, args.seconds, args.interval)
    with timed() as t:
        clips = cut_clips(source, config)
    clip_bytes = sum(len(c) for _, _, c in clips)
    meta_bytes = len(clips) * len(source)
    quality = psnr(clips, source)
    print(f"source: {args.seconds:g} s {args.width}x{args.height} @ {args.fps} fps, x264 crf {args.crf}: "
          f"{len(source) / 1e6:.2f} MB; {len(clips)} segments of {args.interval:g} s")
    print(f"  cut clips     : {clip_bytes / 1e6:.2f} MB sent, cut in {t.wall:.2f} s wall / {t.own_cpu:.2f} s CPU "
          f"(others kept {t.other_cores:.2f} cores busy)")
    print(f"  videoMetadata : {meta_bytes / 1e6:.2f} MB sent (the whole video with each of {len(clips)} requests)")
    print(f"  re-encoding   : mean PSNR of the clips' frames against the source {quality:.1f} dB")
    print(f"RESULT bytes_ratio={meta_bytes / clip_bytes:.2f} cut_s={t.wall:.2f} "
          f"cut_s_per_video_s={t.wall / args.seconds:.3f} psnr_db={quality:.1f} source_mb={len(source) / 1e6:.2f} "
          f"clips_mb={clip_bytes / 1e6:.2f}")


if __name__ == "__main__":
    main()
