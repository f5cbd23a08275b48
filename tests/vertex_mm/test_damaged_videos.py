"""Damaged real videos at the video checks and the clip cutter: a result or a typed
:class:`~vertex_mm.errors.InvalidVideoError` naming the input.

Pinned from a fuzz run (thousands of mutations of real files):

* a codec id no decoder knows left the stream without a codec context, and ``cut_clips``
  raised ``AttributeError``; :func:`open_video` now refuses such a stream;
* a video whose header states no duration (a browser's live-recorded WebM) was refused by
  ``cut_clips``, and the local backend's frame reader raised PyAV's ``RuntimeError`` ("Cannot
  change thread_type after codec is open") or ``av.error.PermissionError`` (seek); both now
  measure it from its packets, without decoding (:func:`measured_duration`).
"""

from __future__ import annotations

import sys

import damaged
import pytest
from factories import mp4_bytes

from vertex_mm import VideoSegmentConfig
from vertex_mm.errors import InputError, InvalidVideoError
from vertex_mm.limits import GEMINI_EMBEDDING_2, check_video_bytes
from vertex_mm.limits.content import check_content_video_bytes

av = pytest.importorskip("av")

from vertex_mm.video_clips import cut_clips, measured_duration, open_video  # noqa: E402

MP4 = mp4_bytes(seconds=2.0, fps=4, size=(32, 32))


def test_an_unknown_codec_id_is_refused_when_the_video_is_opened():
    broken = damaged.mp4_with_unknown_codec(MP4)
    for step in (lambda: open_video(broken, "clip.mp4"), lambda: cut_clips(broken, name="clip.mp4")):
        with pytest.raises(InvalidVideoError, match=r"clip\.mp4: the video stream's codec cannot be decoded"):
            step()


def test_a_live_recorded_webm_without_a_duration_is_measured_and_cut():
    live = damaged.live_webm(seconds=6.0)
    container, seconds = measured_duration(open_video(live, "live.webm"), live, "live.webm")
    container.close()
    assert seconds == pytest.approx(6.0)
    clips = cut_clips(live, VideoSegmentConfig(0, 120, 4), name="live.webm")
    assert [(s, e) for s, e, _ in clips] == [(0.0, 4.0), (4.0, 6.0)]
    assert all(clip[4:8] == b"ftyp" for _, _, clip in clips)


def test_a_live_webm_cut_off_before_its_first_frame_says_there_are_no_frames():
    live = damaged.live_webm()
    header_only = live[:live.find(b"\x1f\x43\xb6\x75") + 12]  # up to the first Cluster's header
    with pytest.raises(InvalidVideoError, match=r"live\.webm: no video frames \(and no duration in the header\)"):
        cut_clips(header_only, name="live.webm")


def test_a_broken_moov_atom_is_refused_by_the_content_check_naming_the_file():
    broken = damaged.mp4_with_broken_moov(MP4)
    assert check_video_bytes(broken, name="clip.mp4") == "video/mp4"  # a sniff only: the service reads it
    with pytest.raises(InvalidVideoError, match=r"clip\.mp4: the video file cannot be read"):
        check_content_video_bytes(broken, GEMINI_EMBEDDING_2.content, name="clip.mp4")


@pytest.mark.parametrize("how, data", list(damaged.mutants(MP4, n=30, seed=3)), ids=lambda v: v if isinstance(v, str) else "")
def test_every_generic_break_of_a_real_mp4_is_typed_in_checks_and_cutting(how, data):
    for step in (lambda: check_content_video_bytes(data, GEMINI_EMBEDDING_2.content, name="clip.mp4"),
                 lambda: cut_clips(data, VideoSegmentConfig(0, 8, 4), name="clip.mp4")):
        try:
            step()
        except InputError as exc:
            assert exc.input_name == "clip.mp4", how


def test_a_fragmented_mp4_is_measured_from_its_packets_not_taken_as_zero_seconds():
    # Browsers, OBS and DASH write an empty moov whose header says 0 s: 130 s passed the 120 s
    # limit and was priced as free.
    long = mp4_bytes(seconds=130, fps=1, size=(16, 16), fragmented=True)
    with pytest.raises(InvalidVideoError, match=r"long\.mp4: the video is 130\.0 s long; gemini-embedding-2 embeds at most 120"):
        check_content_video_bytes(long, GEMINI_EMBEDDING_2.content, name="long.mp4")
    short = mp4_bytes(seconds=3, fps=2, size=(16, 16), fragmented=True)
    assert check_content_video_bytes(short, GEMINI_EMBEDDING_2.content, name="short.mp4")[1] == pytest.approx(3.0, abs=0.6)


def test_without_pyav_a_header_without_a_duration_is_refused_with_the_way_out(monkeypatch):
    short = mp4_bytes(seconds=3, fps=2, size=(16, 16), fragmented=True)
    monkeypatch.setitem(sys.modules, "av", None)  # the thin client installed without the video extra
    with pytest.raises(InvalidVideoError, match=r"short\.mp4: the video file's header states no duration.*vertex-mm\[video\]"):
        check_content_video_bytes(short, GEMINI_EMBEDDING_2.content, name="short.mp4")


def test_an_audio_file_with_no_samples_is_refused():
    from factories import wav_bytes

    from vertex_mm.errors import InvalidAudioError
    from vertex_mm.limits.content import check_audio_bytes

    with pytest.raises(InvalidAudioError, match=r"empty\.wav: the audio file has no samples"):
        check_audio_bytes(wav_bytes(seconds=0), GEMINI_EMBEDDING_2.content, name="empty.wav")


def test_audio_running_past_the_picture_adds_no_segment_of_no_frames():
    # Matroska's own duration covers the audio: 8 s of picture and 8.3 s of sound gave a third,
    # frameless segment (8, 8.3).
    mkv = damaged.mkv_with_longer_audio(8.0, 8.3)
    container, seconds = measured_duration(open_video(mkv, "talk.mkv"), mkv, "talk.mkv")
    container.close()
    assert seconds == pytest.approx(8.0, abs=0.05)
    assert [(s, e) for s, e, _clip in cut_clips(mkv, VideoSegmentConfig(0, 120, 4), name="talk.mkv")] == \
        [(0.0, 4.0), (4.0, pytest.approx(8.0, abs=0.05))]
