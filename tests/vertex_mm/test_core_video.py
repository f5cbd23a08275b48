"""Video requests: the span limit at a frame rate with the audio track (check and price agree),
segment configs the wire cannot carry or that are one request written differently, and MP4
files that hold sound and no picture."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from factories import mp4_bytes

from vertex_mm import Audio, Video, VideoSegmentConfig
from vertex_mm.content import as_part
from vertex_mm.errors import InvalidAudioError, InvalidVideoError
from vertex_mm.limits import GEMINI_EMBEDDING_2, check_video_segment, is_audio_only_mp4, mp4_track_kinds, sniff_media
from vertex_mm.limits.content import max_video_seconds
from vertex_mm.pricing import content_tokens, content_usage
from vertex_mm.testing import InMemoryTransport
from vertex_mm.vertex import VertexEmbedder
from vertex_mm.wire import EmbedRequest, VideoSpan, build_embed_content_body, build_instance
from vertex_mm.wire.request import check_video_span

CONTENT = GEMINI_EMBEDDING_2.content
assert CONTENT is not None


# -- the span limit at a frame rate, with and without the audio track --------------------------------

@pytest.mark.parametrize("fps", [2.0, 24.0])
def test_audio_track_does_not_lift_the_frame_limit(fps):
    # The audio track only adds tokens: an 80 s span at 2 or 24 fps cannot fit with it when it
    # cannot without it.
    for audio in (False, True):
        with pytest.raises(InvalidVideoError, match=f"at {fps:g} frame"):
            check_video_span(VideoSpan(0, 80, fps), None, CONTENT, audio_track=audio)
    assert check_video_span(VideoSpan(0, 80, 1.0), None, CONTENT, audio_track=True) == 80  # the documented 80 s


@pytest.mark.parametrize("audio", [False, True])
@pytest.mark.parametrize("fps", [0.5, 1.0, 2.0, 7.0, 24.0])
def test_check_and_price_estimate_agree_on_the_longest_span(fps, audio):
    # An unmeasured (gs://) video is priced at the longest span the check lets through, and that
    # span fits the token budget.
    request = EmbedRequest.create_content([Video(gcs_uri="gs://bucket/clip.mp4")], limits=GEMINI_EMBEDDING_2,
                                          audio_track_extraction=audio, video_span=VideoSpan(fps=fps))
    bound = content_usage(request)["video"].units
    assert bound == pytest.approx(max_video_seconds(CONTENT, fps, audio_track=audio))
    assert check_video_span(VideoSpan(0, bound, fps), None, CONTENT, audio_track=audio) == pytest.approx(bound)
    with pytest.raises(InvalidVideoError, match="embeds at most"):
        check_video_span(VideoSpan(0, bound + 0.1, fps), None, CONTENT, audio_track=audio)
    assert content_tokens(request) <= CONTENT.max_tokens


def test_the_message_states_a_limit_that_is_accepted():
    with pytest.raises(InvalidVideoError, match=r"at most 48\.38 s of video at 2 frame\(s\) per second with audio") as e:
        check_video_span(VideoSpan(0, 60, 2.0), None, CONTENT, audio_track=True)
    said = float(str(e.value).split("at most ")[1].split(" s")[0])
    assert check_video_span(VideoSpan(0, said, 2.0), None, CONTENT, audio_track=True) == said


# -- VideoSegmentConfig (@001) -----------------------------------------------------------------------

@pytest.mark.parametrize(("config", "field"), [
    (VideoSegmentConfig(0, 10, math.inf), "interval_sec"),
    (VideoSegmentConfig(math.inf, math.inf, 4), "start_offset_sec"),
])
def test_infinite_start_or_interval_is_a_typed_error(config, field, mp4_10s):
    with pytest.raises(InvalidVideoError, match=rf"video_segment_config\.{field} must be a finite number, got inf"):
        EmbedRequest.create(video=Video(mp4_10s), video_segment_config=config)


def test_infinite_end_is_cut_and_the_instance_is_json(mp4_10s):
    request = EmbedRequest.create(video=Video(mp4_10s), video_segment_config=VideoSegmentConfig(0, math.inf, 4))
    sent = json.loads(json.dumps(build_instance(request), allow_nan=False))
    assert sent["video"]["videoSegmentConfig"] == {"startOffsetSec": 0, "endOffsetSec": 120, "intervalSec": 4}


def test_equal_segment_configs_written_differently_are_one_request(mp4_10s, tmp_path):
    configs = [VideoSegmentConfig(0, 8, 4), VideoSegmentConfig(0.0, 8.0, 4.0),
               VideoSegmentConfig(np.float64(0), np.float64(8), np.float64(4)),
               VideoSegmentConfig(np.int64(0), np.int64(8), np.int64(4))]  # numpy numbers are numbers
    requests = [EmbedRequest.create(video=Video(mp4_10s), video_segment_config=c) for c in configs]
    assert len({r.cache_key("multimodalembedding@001") for r in requests}) == 1
    assert {json.dumps(build_instance(r)) for r in requests} == {json.dumps(build_instance(requests[0]))}
    # The int form keys as it always did, so caches written before keep their entries.
    assert repr(requests[1].video_segment_config) == repr(VideoSegmentConfig(0, 8, 4))
    transport = InMemoryTransport()
    embedder = VertexEmbedder(transport=transport, requests_per_minute=None, cache=str(tmp_path / "cache.sqlite"))
    for config in configs:
        response = embedder.embed_many([{"video": Video(mp4_10s), "video_segment_config": config}])[0]
        assert response.video_embeddings
    assert len(transport.calls) == 1


def test_a_segment_number_that_is_no_number_names_the_types():
    with pytest.raises(InvalidVideoError, match="interval_sec must be an int or float, got '4'"):
        check_video_segment(0, 8, "4")  # type: ignore[arg-type]
    with pytest.raises(InvalidVideoError, match="must be an int or float"):
        check_video_segment(0, True, 4)


# -- MP4 with sound and no picture -----------------------------------------------------------------

def _audio_only_mp4(fmt: str = "mp4", seconds: float = 1.0) -> bytes:
    """AAC in an MP4: ``mp4`` writes the ``isom`` brand (ffmpeg's default), ``ipod`` ``M4A ``."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(int(seconds * 16000 / 1024)):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def isom_audio() -> bytes:
    data = _audio_only_mp4()
    assert data[4:12] == b"ftypisom"
    return data


def test_audio_only_mp4_is_audio_whatever_its_brand(isom_audio, tmp_path):
    assert sniff_media(isom_audio) == ("audio", "M4A") == sniff_media(_audio_only_mp4("ipod"))
    assert mp4_track_kinds(isom_audio) == {"soun"} and is_audio_only_mp4(isom_audio)
    path = tmp_path / "voice.m4a"
    path.write_bytes(isom_audio)
    part = as_part(path)
    assert isinstance(part, Audio)
    with pytest.raises(InvalidAudioError, match="M4A audio is not accepted; gemini-embedding-2 takes MP3, WAV"):
        EmbedRequest.create_content([part], limits=GEMINI_EMBEDDING_2)
    with pytest.raises(InvalidAudioError, match="M4A audio is not accepted"):  # the same bytes given as Audio
        EmbedRequest.create_content([Audio(isom_audio)], limits=GEMINI_EMBEDDING_2)


def test_audio_only_mp4_given_as_video_is_refused_for_both_models(isom_audio):
    with pytest.raises(InvalidVideoError, match="the MP4 file has no video track, only sound") as e:
        EmbedRequest.create_content([Video(isom_audio, name="voice.mp4")], limits=GEMINI_EMBEDDING_2)
    assert "MP3 or WAV" in str(e.value)
    with pytest.raises(InvalidVideoError, match="no video track"):
        EmbedRequest.create(video=Video(isom_audio))  # multimodalembedding@001


def test_a_video_with_a_picture_is_still_a_video(mp4_10s):
    assert mp4_track_kinds(mp4_10s) == {"vide"} and not is_audio_only_mp4(mp4_10s)
    assert sniff_media(mp4_10s) == ("video", "MP4")
    assert sniff_media(mp4_10s[:1024]) == ("video", "MP4")  # only the head: no track table to read
    request = EmbedRequest.create_content([Video(mp4_10s)], limits=GEMINI_EMBEDDING_2)
    assert build_embed_content_body(request)["content"]["parts"][0]["inlineData"]["mimeType"] == "video/mp4"
    fragmented = mp4_bytes(seconds=2.0, fps=2, size=(32, 32), fragmented=True)  # tracks in an empty moov
    assert mp4_track_kinds(fragmented) == {"vide"}


def test_the_mp4_box_walk_is_bounded_on_files_of_many_tiny_boxes(isom_audio):
    from vertex_mm.limits.formats import MAX_MP4_BOXES

    ftyp = int.from_bytes(isom_audio[:4], "big")

    def padded(n: int) -> bytes:  # n empty 8-byte `free` boxes before the real ones
        return isom_audio[:ftyp] + b"\x00\x00\x00\x08free" * n + isom_audio[ftyp:]

    assert mp4_track_kinds(padded(100)) == {"soun"} and is_audio_only_mp4(padded(100))
    # A crafted file (20 MB of such boxes took seconds per check): the walk stops, the tracks
    # are unread, and the file is not called audio (a video's checks then apply).
    crafted = padded(MAX_MP4_BOXES)
    assert mp4_track_kinds(crafted) is None and not is_audio_only_mp4(crafted)
