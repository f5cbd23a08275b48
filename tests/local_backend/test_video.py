"""Video embeddings on real MP4 files made with PyAV: segments, offsets and content."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av")

from local_backend.video import sample_times, segments_for  # noqa: E402
from vertex_mm import Video, VideoSegmentConfig  # noqa: E402
from vertex_mm.errors import InvalidDimensionError, InvalidVideoError  # noqa: E402


@pytest.fixture(scope="module")
def cat_coffee_cat(photos, mp4_factory) -> bytes:
    """12 s: the cat for 4 s, the coffee cup for 4 s, the cat again for 4 s."""
    return mp4_factory([photos["chelsea"], photos["coffee"], photos["chelsea"]], 4.0)


def _segments(response):
    return [(v.start_offset_sec, v.end_offset_sec) for v in response.video_embeddings]


def test_segments_follow_the_interval(local_embedder, cat_coffee_cat) -> None:
    r = local_embedder.get_embeddings(video=Video(cat_coffee_cat), video_segment_config=VideoSegmentConfig(0, 12, 4))
    assert _segments(r) == [(0, 4), (4, 8), (8, 12)]
    assert r.space.dimension == 1408
    assert all(len(v.embedding) == 1408 for v in r.video_embeddings)


def test_segment_vectors_differ_where_content_differs_and_match_where_it_repeats(local_embedder, cat_coffee_cat) -> None:
    r = local_embedder.get_embeddings(video=Video(cat_coffee_cat), video_segment_config=VideoSegmentConfig(0, 12, 4))
    cat1, coffee, cat2 = r.as_array("video")
    np.testing.assert_allclose(np.linalg.norm(r.as_array("video"), axis=1), 1.0, atol=1e-5)
    assert cat1 @ cat2 > 0.98
    assert cat1 @ coffee < 0.8


def test_segments_share_the_image_space(local_embedder, cat_coffee_cat) -> None:
    r = local_embedder.get_embeddings(video=Video(cat_coffee_cat), contextual_text="a photo of a cat",
                                      video_segment_config=VideoSegmentConfig(0, 12, 4))
    text = np.asarray(r.text_embedding)
    cat1, coffee, _ = r.as_array("video")
    assert cat1 @ text > coffee @ text


def test_default_config_gives_one_segment_clipped_to_the_duration(local_embedder, cat_coffee_cat) -> None:
    r = local_embedder.get_embeddings(video=Video(cat_coffee_cat))
    assert _segments(r) == [(0, 12)]


def test_start_and_end_offsets_are_honoured(local_embedder, cat_coffee_cat) -> None:
    r = local_embedder.get_embeddings(video=Video(cat_coffee_cat), video_segment_config=VideoSegmentConfig(4, 12, 4))
    assert _segments(r) == [(4, 8), (8, 12)]
    full = local_embedder.get_embeddings(video=Video(cat_coffee_cat), video_segment_config=VideoSegmentConfig(0, 12, 4))
    np.testing.assert_allclose(r.as_array("video"), full.as_array("video")[1:], atol=1e-5)


def test_a_start_past_the_end_is_an_invalid_video(local_embedder, cat_coffee_cat) -> None:
    with pytest.raises(InvalidVideoError, match="past the end"):
        local_embedder.get_embeddings(video=Video(cat_coffee_cat), video_segment_config=VideoSegmentConfig(20, 40, 4))


def test_corrupt_video_is_an_invalid_video_error_naming_it(local_embedder, cat_coffee_cat) -> None:
    broken = cat_coffee_cat[:64] + b"\x00" * 2000  # a real MP4 header, then garbage
    with pytest.raises(InvalidVideoError, match="clip.mp4"):
        local_embedder.get_embeddings(video=Video(broken, name="clip.mp4"))


def test_a_corrupt_video_fails_alone_in_a_batch(local_embedder, cat_coffee_cat) -> None:
    broken = cat_coffee_cat[:64] + b"\x00" * 2000
    results = local_embedder.embed_many([
        {"video": Video(cat_coffee_cat), "video_segment_config": VideoSegmentConfig(0, 8, 4)},
        {"video": Video(broken, name="bad.mp4")},
        {"contextual_text": "a cat"},
    ])
    assert len(results[0].video_embeddings) == 2
    assert isinstance(results[1], InvalidVideoError)
    assert results[2].text_embedding is not None


def test_video_needs_dimension_1408(local_embedder, cat_coffee_cat) -> None:
    with pytest.raises(InvalidDimensionError):
        local_embedder.get_embeddings(video=Video(cat_coffee_cat), dimension=512)


def test_frames_are_sampled_once_per_second_centred() -> None:
    assert sample_times(0, 4, fps=1.0, max_frames=16) == [0.5, 1.5, 2.5, 3.5]
    assert sample_times(8, 8.5, fps=1.0, max_frames=16) == [8.25]  # a short tail still gets a frame
    assert len(sample_times(0, 120, fps=1.0, max_frames=16)) == 16


def test_segments_are_clipped_to_120_seconds_and_the_duration() -> None:
    assert segments_for(None, 300.0) == [(t, t + 16) for t in range(0, 112, 16)] + [(112, 120)]
    assert segments_for(VideoSegmentConfig(0, 120, 16), 20.0) == [(0, 16), (16, 20)]


def test_a_portrait_phone_video_is_embedded_upright(local_embedder, photos) -> None:
    # Phones store portrait video landscape with a display rotation; frames were embedded sideways.
    import io

    import av
    from PIL import Image

    cat = Image.fromarray(np.asarray(photos["chelsea"])).convert("RGB").resize((224, 160))
    stored = cat.transpose(Image.Transpose.ROTATE_90)  # how the camera wrote the pixels

    def mp4(img: Image.Image, rotation: int) -> bytes:
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as c:
            s = c.add_stream("libx264", rate=4)
            s.width, s.height, s.pix_fmt = img.size[0], img.size[1], "yuv420p"
            if rotation:
                s.set_display_rotation(rotation)
            for _ in range(8):
                for p in s.encode(av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        return buf.getvalue()

    png = io.BytesIO()
    cat.save(png, "PNG")
    image = local_embedder.get_embeddings(image=png.getvalue()).image_embedding
    tagged = local_embedder.get_embeddings(video=Video(mp4(stored, -90))).video_embeddings[0].embedding
    untagged = local_embedder.get_embeddings(video=Video(mp4(stored, 0))).video_embeddings[0].embedding
    assert np.dot(image, tagged) > 0.98 and np.dot(image, tagged) > np.dot(image, untagged) + 0.05


def test_a_video_cut_short_is_refused_not_padded_with_its_last_frame(local_embedder) -> None:
    # The header states 10 s, the frames stop near 6 s; FFmpeg's threaded decoder stops there
    # without a word, and segment 8-10 s was the last frame over again.
    import damaged

    cut = damaged.cut_short_mp4(seconds=10.0, keep=0.6)
    with pytest.raises(InvalidVideoError, match=r"cut\.mp4: the frames stop at \d\.\d\d s of a stated 10\.00 s"):
        local_embedder.get_embeddings(video=Video(cut, name="cut.mp4"), video_segment_config=VideoSegmentConfig(0, 10, 4))
    first = local_embedder.get_embeddings(video=Video(cut, name="cut.mp4"), video_segment_config=VideoSegmentConfig(0, 4, 4))
    assert _segments(first) == [(0, 4)]  # the part that is there still embeds


def _slideshow_mp4(frames: int, hold_last_s: float) -> bytes:
    """A variable-rate MP4: one picture a second, the last one held ``hold_last_s`` on screen
    (what a slideshow or a screen recording of a still screen writes)."""
    import fractions
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        packets = []
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i * 1000, fractions.Fraction(1, 1000)
            packets += stream.encode(frame)
        packets += stream.encode()
        packets.sort(key=lambda p: p.dts)
        packets[-1].duration = int(hold_last_s * 1000)
        for packet in packets:
            out.mux(packet)
    return buf.getvalue()


def test_a_held_last_frame_is_on_screen_to_the_end_not_a_truncated_file(local_embedder) -> None:
    data = _slideshow_mp4(10, hold_last_s=30.0)  # 39 s stated; the average frame interval is 3.9 s
    r = local_embedder.get_embeddings(video=Video(data), video_segment_config=VideoSegmentConfig(0, 120, 16))
    assert _segments(r) == [(0, 16), (16, 32), (32, 39)]
