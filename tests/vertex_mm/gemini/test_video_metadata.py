"""gemini-embedding-2's ``videoMetadata`` (a video part's start / end offsets and fps): the
emulator embeds only that span and checks it as the service does, through the real google-genai
client; GeminiEmbedder sends a gs:// video's segments that way instead of refusing them."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from factories import mp4_bytes

from vertex_mm import Video, VideoSegmentConfig, get_embedder
from vertex_mm.limits import GEMINI_EMBEDDING_2
from vertex_mm.video_clips import open_video, probe_duration
from vertex_mm.wire import EmbedRequest, VideoSpan, build_embed_content_body, parse_embed_content_body
from vertex_mm.wire.embed_content import format_duration, parse_duration

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def colour_video() -> bytes:
    """10 s at 2 fps whose colour changes every second."""
    return mp4_bytes(seconds=10.0, fps=2, size=(32, 32), colors=[RED, GREEN, BLUE])


@pytest.fixture(scope="module")
def long_video() -> bytes:
    """130 s at 1 fps: longer than the model embeds whole (120 s)."""
    return mp4_bytes(seconds=130.0, fps=1, size=(16, 16))


def _video_part(data: bytes, **span: Any) -> Any:
    from google.genai import types

    part = types.Part.from_bytes(data=data, mime_type="video/mp4")
    part.video_metadata = types.VideoMetadata(**span)
    return part


def _embed(client: Any, *parts: Any, dimension: int = 128, **config: Any) -> Any:
    from google.genai import types

    return client.models.embed_content(model="gemini-embedding-2", contents=types.Content(role="user", parts=list(parts)),
                                       config=types.EmbedContentConfig(output_dimensionality=dimension, **config))


def _client_error(call: Any) -> Any:
    from google.genai import errors

    with pytest.raises(errors.ClientError) as info:
        call()
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    return info.value


# -- the wire ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [(10, "10s"), (20.5, "20.5s"), (0, "0s"), (1 / 3, "0.333333333s")])
def test_offsets_are_proto_duration_strings(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["10", "1m", 10, "ten s", "1.0000000001s"])
def test_a_malformed_duration_is_an_invalid_argument_naming_the_field(bad):
    from vertex_mm.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="start_offset"):
        parse_duration(bad, "content.parts[0].video_metadata.start_offset")


def test_a_span_goes_on_the_wire_and_back(colour_video):
    req = EmbedRequest.create_content([Video(colour_video)], limits=GEMINI_EMBEDDING_2, dimension=128,
                                      video_span=VideoSpan(2, 6.5, fps=2))
    part = build_embed_content_body(req)["content"]["parts"][0]
    assert part["videoMetadata"] == {"startOffset": "2s", "endOffset": "6.5s", "fps": 2}
    back = parse_embed_content_body(build_embed_content_body(req), GEMINI_EMBEDDING_2)
    assert back.content is not None and back.content[0].span == VideoSpan(2.0, 6.5, 2.0)
    assert back.content[0].seconds == pytest.approx(4.5)  # what is embedded, and counted


# -- the emulator, through google-genai ----------------------------------------------------------


def test_the_emulator_embeds_only_the_span(genai_client, colour_video, hashed, mocker):
    import vertex_mm.video_clips

    cut = mocker.spy(vertex_mm.video_clips, "cut_span")  # the emulator runs in this process
    got = _embed(genai_client, _video_part(colour_video, start_offset="2s", end_offset="6s"))
    (start, end, clip) = cut.spy_return
    assert (start, end) == (2.0, 6.0)
    container = open_video(clip, "clip")
    assert probe_duration(container) == pytest.approx(4.0)
    container.close()
    np.testing.assert_allclose(got.embeddings[0].values, hashed.embed_content([Video(clip)], dimension=128),
                               rtol=1e-5, atol=1e-7)
    cut.reset_mock()
    whole = _embed(genai_client, _video_part(colour_video, fps=2.0))  # no offsets: all of it, nothing cut
    assert cut.call_count == 0 and whole.embeddings[0].statistics.token_count == 20 * 66
    np.testing.assert_allclose(whole.embeddings[0].values, hashed.embed_content([Video(colour_video)], dimension=128),
                               rtol=1e-5, atol=1e-7)


def test_an_end_past_the_video_stops_at_its_end(genai_client, colour_video, mocker):
    import vertex_mm.video_clips

    cut = mocker.spy(vertex_mm.video_clips, "cut_span")
    r = _embed(genai_client, _video_part(colour_video, start_offset="8s", end_offset="16s"))
    assert cut.spy_return[:2] == (8.0, 10.0)
    assert r.embeddings[0].statistics.token_count == 2 * 66  # 2 s at 1 frame per second


@pytest.mark.parametrize(("span", "message"), [
    ({"start_offset": "6s", "end_offset": "4s"}, "must be after start_offset"),
    ({"start_offset": "4s", "end_offset": "4s"}, "must be after start_offset"),
    ({"start_offset": "10s"}, "at or past the end of the video"),
    ({"start_offset": "-1s"}, "0 s or more"),
    ({"fps": 25.0}, r"fps=25.0: must be in \(0, 24\]"),
    ({"fps": 0.0}, r"must be in \(0, 24\]"),
    ({"start_offset": "ten"}, "google.protobuf.Duration"),
])
def test_bad_offsets_are_invalid_argument(genai_client, colour_video, span, message):
    error = _client_error(lambda: _embed(genai_client, _video_part(colour_video, **span)))
    assert re.search(message, error.message), error.message


def test_a_span_of_a_long_video_is_embedded_and_checked_against_the_limits(genai_client, long_video):
    # 130 s whole is over 120 s; a span of it is not, and the span is what counts.
    assert "130.0 s long" in _client_error(lambda: _embed(genai_client, _video_part(long_video))).message
    r = _embed(genai_client, _video_part(long_video, start_offset="20s", end_offset="120s"))
    assert r.embeddings[0].statistics.token_count == 100 * 66
    # 121 s at 1 fps is over 120 frames; at 2 fps 60 s is the most; with the audio track, 80 s.
    assert "at most 120 s" in _client_error(
        lambda: _embed(genai_client, _video_part(long_video, start_offset="0s", end_offset="121s"))).message
    assert "at most 60 s of video at 2 frame(s)" in _client_error(
        lambda: _embed(genai_client, _video_part(long_video, end_offset="61s", fps=2.0))).message
    assert "with audio track extraction" in _client_error(lambda: _embed(
        genai_client, _video_part(long_video, start_offset="10s", end_offset="91s"), audio_track_extraction=True)).message
    # At half a frame per second the 120 frames last 240 s: all 130 s fit, as 65 frames.
    slow = _embed(genai_client, _video_part(long_video, fps=0.5))
    assert slow.embeddings[0].statistics.token_count == 65 * 66


def test_video_metadata_on_an_image_is_refused(genai_client, png_bytes):
    from google.genai import types

    part = types.Part.from_bytes(data=png_bytes, mime_type="image/png")
    part.video_metadata = types.VideoMetadata(start_offset="1s")
    assert "video part only" in _client_error(lambda: _embed(genai_client, part)).message


# -- GeminiEmbedder: a gs:// video's segments as videoMetadata -----------------------------------


@pytest.fixture
def gemini_gcs(gcs_emulator: Any) -> Any:
    emb = get_embedder("gemini", base_url=gcs_emulator.url, retry="none", requests_per_minute=None)
    yield emb
    emb.close()


def test_a_gs_video_is_segmented_by_the_service_from_its_uri(gemini_gcs, bucket, colour_video, hashed, mocker):
    import vertex_mm.video_clips

    bucket.blob("clips/v.mp4").upload_from_string(colour_video)
    local_cut = mocker.spy(vertex_mm.video_clips, "cut_clips")
    served = mocker.spy(vertex_mm.video_clips, "cut_span")  # the emulator's cut of each span
    r = gemini_gcs.get_embeddings(video=Video(gcs_uri="gs://bkt/clips/v.mp4"),
                                  video_segment_config=VideoSegmentConfig(0, 10, 4), dimension=256)
    assert local_cut.call_count == 0  # nothing downloaded or cut on the client
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 4), (4, 8), (8, 10)]
    assert [c.args[1:3] for c in served.call_args_list] == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
    for v, (_, _, clip) in zip(r.video_embeddings, [c for c in served.spy_return_list]):
        np.testing.assert_allclose(v.embedding, hashed.embed_content([Video(clip)], dimension=256), rtol=1e-5, atol=1e-7)


def test_a_gs_video_shorter_than_the_default_first_120_s_ends_at_its_end_quietly(gemini_gcs, bucket, colour_video):
    bucket.blob("v.mp4").upload_from_string(colour_video)
    r = gemini_gcs.get_embeddings(video=Video(gcs_uri="gs://bkt/v.mp4"),
                                  video_segment_config=VideoSegmentConfig(), dimension=128)  # 0-120 s by 16
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 16)]  # warnings are errors


def test_a_gs_video_shorter_than_an_end_the_caller_chose_warns_at_the_first_refused_segment(
        gemini_gcs, bucket, colour_video):
    bucket.blob("v.mp4").upload_from_string(colour_video)
    with pytest.warns(UserWarning, match=r"the segment 16-32 s was refused .*returning 1 segment"):
        r = gemini_gcs.get_embeddings(video=Video(gcs_uri="gs://bkt/v.mp4"),
                                      video_segment_config=VideoSegmentConfig(0, 60, 16), dimension=128)
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 16)]


def test_a_refused_first_segment_is_the_error_itself(gemini_gcs):
    from vertex_mm.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="gs://bkt/missing.mp4"):
        gemini_gcs.get_embeddings(video=Video(gcs_uri="gs://bkt/missing.mp4"),
                                  video_segment_config=VideoSegmentConfig(0, 8, 4))


def test_without_storage_each_segment_of_a_gs_video_gets_its_own_vector(gemini):
    r = gemini.get_embeddings(video=Video(gcs_uri="gs://bkt/clip.mp4"), video_segment_config=VideoSegmentConfig(0, 8, 4),
                              dimension=128)
    a, b = (v.embedding for v in r.video_embeddings)
    assert [(v.start_offset_sec, v.end_offset_sec) for v in r.video_embeddings] == [(0, 4), (4, 8)]
    assert not np.allclose(a, b)  # the URI stands for the bytes, and the span is part of what is hashed


def test_a_content_with_a_video_span_sends_the_span_online_as_batch_lines_do(gemini, colour_video, mocker):
    import vertex_mm.video_clips

    served = mocker.spy(vertex_mm.video_clips, "cut_span")  # the emulator's cut of the span it was sent
    request = EmbedRequest.create_content([Video(colour_video)], limits=GEMINI_EMBEDDING_2, dimension=128,
                                          video_span=VideoSpan(2, 5))
    span_vec = np.asarray(gemini.embed_many([request])[0].content_embedding)
    assert [c.args[1:3] for c in served.call_args_list] == [(2.0, 5.0)]
    whole_vec = np.asarray(gemini.embed_many([EmbedRequest.create_content(
        [Video(colour_video)], limits=GEMINI_EMBEDDING_2, dimension=128)])[0].content_embedding)
    assert not np.allclose(span_vec, whole_vec)


def test_equal_spans_are_one_cache_key_and_offsets_no_duration_spells_are_refused(colour_video):
    from vertex_mm.errors import InputError

    def key(span: VideoSpan) -> str:
        return EmbedRequest.create_content([Video(colour_video)], limits=GEMINI_EMBEDDING_2, dimension=128,
                                           video_span=span).cache_key("m")
    assert key(VideoSpan(1, 2)) == key(VideoSpan(1.0, 2.0)) != key(VideoSpan(1, 3))
    assert format_duration(-0.0) == "0s"
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(InputError, match="0 s or more"):
            format_duration(bad)
