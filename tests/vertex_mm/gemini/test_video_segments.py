"""multimodalembedding@001's video segments on gemini-embedding-2, inline bytes: each segment is
cut from the video as its own MP4 clip (vertex_mm.video_clips) and embedded alone (gs:// videos:
test_video_metadata.py)."""

from __future__ import annotations

import numpy as np
import pytest
from factories import mp4_bytes

from vertex_mm import Video, VideoSegmentConfig
from vertex_mm.errors import InvalidVideoError
from vertex_mm.video_clips import cut_clips, open_video, probe_duration, video_frames

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def colour_video() -> bytes:
    """10 s at 2 fps whose colour changes every second: red, green, blue, red, ..."""
    return mp4_bytes(seconds=10.0, fps=2, size=(32, 32), colors=[RED, GREEN, BLUE])


def _frames(clip: bytes) -> list[tuple[float, tuple[int, ...]]]:
    container = open_video(clip, "clip")
    try:
        return [(t, tuple(int(round(c)) for c in f.to_ndarray(format="rgb24").mean(axis=(0, 1))))
                for t, f in video_frames(container, "clip")]
    finally:
        container.close()


def _near(colour: tuple[int, ...], want: tuple[int, int, int]) -> bool:
    return max(abs(a - b) for a, b in zip(colour, want)) <= 12  # H.264 of a flat colour


def test_each_segment_becomes_a_clip_of_its_own_frames(colour_video):
    clips = cut_clips(colour_video, VideoSegmentConfig(0, 10, 4))
    assert [(s, e) for s, e, _ in clips] == [(0, 4), (4, 8), (8, 10)]  # the last one ends with the video
    cycle = [RED, GREEN, BLUE]
    for start, end, clip in clips:
        frames = _frames(clip)
        container = open_video(clip, "clip")
        assert probe_duration(container) == pytest.approx(end - start)
        container.close()
        assert len(frames) == round((end - start) * 2)  # every frame of the segment, at the source's 2 fps
        for t, colour in frames:  # the clip's time t is the source's start + t
            assert _near(colour, cycle[int(start + t + 1e-6) % 3]), (start, t, colour)


def test_a_segment_between_frames_starts_with_the_frame_on_screen(colour_video):
    # 0.25 s falls between the frames at 0 and 0.5 s: the clip opens with the red one shown then.
    (start, end, clip), *_ = cut_clips(colour_video, VideoSegmentConfig(0.25, 9, 4))
    frames = _frames(clip)
    assert (start, end) == (0.25, 4.25) and _near(frames[0][1], RED) and _near(frames[-1][1], GREEN)


@pytest.mark.parametrize(("config", "message"), [
    (VideoSegmentConfig(12, 20, 4), "past the end of the video"),
])
def test_segments_past_the_video_are_refused_naming_it(colour_video, config, message):
    with pytest.raises(InvalidVideoError, match=message):
        cut_clips(colour_video, config, name="clip.mp4")


def test_a_file_that_is_not_a_video_is_refused_naming_it():
    with pytest.raises(InvalidVideoError, match="notes.mp4: video cannot be decoded"):
        cut_clips(b"not a video at all" * 50, name="notes.mp4")


def test_gemini_answers_one_vector_per_segment_as_multimodalembedding_did(gemini, colour_video, mocker):
    import vertex_mm.video_clips

    cut = mocker.spy(vertex_mm.video_clips, "cut_clips")  # records the clips it made; runs as it is
    r = gemini.get_embeddings(video=Video(colour_video), video_segment_config=VideoSegmentConfig(0, 10, 4),
                              dimension=256)
    got = [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings]
    assert got == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)] and all(isinstance(x, float) for pair in got for x in pair)
    # Each segment's vector is the model's vector of that segment's clip, embedded alone.
    for v, (_, _, clip) in zip(r.video_embeddings, cut.spy_return):
        np.testing.assert_allclose(v.embedding, gemini.embed_content([Video(clip)], dimension=256), rtol=1e-6)
    assert r.space.id == "gemini/gemini-embedding-2/256"


def test_the_drop_in_gives_gemini_segments_too(emulator, colour_video):
    import vertex_mm

    model = vertex_mm.MultiModalEmbeddingModel.from_pretrained(
        "gemini-embedding-2", backend="gemini", base_url=emulator.url, retry="none")
    r = model.get_embeddings(video=Video(colour_video), video_segment_config=VideoSegmentConfig(0, 8, 4), dimension=128)
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0.0, 4.0), (4.0, 8.0)]
