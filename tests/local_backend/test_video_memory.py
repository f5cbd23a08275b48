"""A 1080p, 120 s video embeds in bounded memory: frames are shrunk while decoding and embedded
in small batches (issue 11, M5: it peaked at 2.3 GB when every sampled frame was kept whole)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("av")

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from factories import mp4_bytes
    data = mp4_bytes(seconds=120, fps=1, size=(1920, 1080))
    from vertex_mm import Video, VideoSegmentConfig, get_embedder
    emb = get_embedder("local")
    r = emb.get_embeddings(video=Video(data), video_segment_config=VideoSegmentConfig(0, 120, 16))
    assert len(r.video_embeddings) == 8
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
    print(f"PEAK_MB {peak:.0f}")
""")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads peak memory from /proc")
def test_a_1080p_two_minute_video_peaks_under_900_mb():
    support = os.path.join(os.path.dirname(__file__), os.pardir, "support")
    done = subprocess.run([sys.executable, "-c", SCRIPT, support], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    peak = float(done.stdout.split("PEAK_MB")[1])
    print(f"whole-process peak: {peak:.0f} MB (model and torch included)")
    assert peak < 900
