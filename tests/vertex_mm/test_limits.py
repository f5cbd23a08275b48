"""The shared limits table: every bad input gets a typed error naming the input and the limit."""

from __future__ import annotations

import io
import warnings

import pytest
from factories import decompression_bomb_png, image_bytes
from PIL import Image as PILImage

from vertex_mm import errors
from vertex_mm.limits import (
    GEMINI_EMBEDDING_2,
    MULTIMODAL_EMBEDDING_001,
    check_dimension,
    check_gcs_uri,
    check_image_bytes,
    check_text,
    check_video_bytes,
    check_video_segment,
    decode_image,
    limits_for,
    sniff_image_format,
    sniff_video_format,
    text_token_estimate,
)


@pytest.mark.parametrize("dim", [128, 256, 512, 1408])
def test_vertex_dimensions_are_accepted(dim):
    assert check_dimension(dim) == dim


def test_default_dimension_is_1408():
    assert check_dimension(None) == 1408


@pytest.mark.parametrize("dim", [0, 100, 1024, 2048, -1])
def test_other_dimensions_are_refused_with_the_allowed_list(dim):
    with pytest.raises(errors.InvalidDimensionError, match=r"128, 256, 512, 1408"):
        check_dimension(dim)


@pytest.mark.parametrize("dim", ["512", 512.0, True])
def test_non_int_dimension_is_refused(dim):
    with pytest.raises(errors.InvalidDimensionError, match="must be an int"):
        check_dimension(dim)


def test_video_supports_only_1408():
    assert check_dimension(1408, video=True) == 1408
    with pytest.raises(errors.InvalidDimensionError, match="with video"):
        check_dimension(512, video=True)


def test_gemini_accepts_free_dimensions_in_range():
    assert check_dimension(700, GEMINI_EMBEDDING_2) == 700
    with pytest.raises(errors.InvalidDimensionError, match="128..3072"):
        check_dimension(4096, GEMINI_EMBEDDING_2)


def test_gemini_free_dimensions_hold_for_video_too():
    # A video is one more content part of gemini-embedding-2: no separate list for it.
    assert check_dimension(256, GEMINI_EMBEDDING_2, video=True) == 256
    assert check_dimension(None, GEMINI_EMBEDDING_2, video=True) == 3072
    with pytest.raises(errors.InvalidDimensionError, match=r"not supported for any input .*128\.\.3072"):
        check_dimension(100, GEMINI_EMBEDDING_2, video=True)


def test_limits_for_known_and_unknown_models():
    assert limits_for("publishers/google/models/gemini-embedding-2") is GEMINI_EMBEDDING_2
    assert limits_for("conse-effnet-minilm") is MULTIMODAL_EMBEDDING_001


@pytest.mark.parametrize("fmt,mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"),
                                      ("BMP", "image/bmp"), ("WEBP", "image/webp")])
def test_each_supported_image_format_is_detected_from_bytes(fmt, mime):
    assert check_image_bytes(image_bytes(fmt)) == mime


def test_empty_image_is_refused():
    with pytest.raises(errors.InvalidImageError, match=r"cat.jpg: image is empty \(0 bytes\)"):
        check_image_bytes(b"", name="cat.jpg")


def test_text_file_named_png_is_refused_by_content():
    with pytest.raises(errors.InvalidImageError, match=r"notes.png: not a recognised image.*BMP, GIF, JPEG, PNG, WEBP"):
        check_image_bytes(b"hello, I am a text file\n", name="notes.png")


def test_truncated_jpeg_is_refused():
    data = image_bytes("JPEG", size=(256, 256))
    with pytest.raises(errors.InvalidImageError, match="cannot be decoded"):
        check_image_bytes(data[: len(data) // 2], name="half.jpg")


def test_truncated_png_is_refused():
    data = image_bytes("PNG", size=(128, 128))
    with pytest.raises(errors.InvalidImageError, match="half.png"):
        check_image_bytes(data[: len(data) - 40], name="half.png")


def test_tiff_is_recognised_but_refused_as_unsupported():
    buf = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(buf, format="TIFF")
    with pytest.raises(errors.InvalidImageError, match="TIFF images are not supported"):
        check_image_bytes(buf.getvalue())


def test_image_over_20_mb_is_refused_before_decoding():
    data = image_bytes("PNG")
    big = data + b"\x00" * (20 * 1024 * 1024)
    with pytest.raises(errors.ImageTooLargeError, match=r"accepts at most 20,971,520 bytes \(20 MB\)"):
        check_image_bytes(big, name="big.png")


def test_decompression_bomb_is_refused_with_the_pixel_limit():
    bomb = decompression_bomb_png()
    assert len(bomb) < 10_000
    with pytest.raises(errors.ImageTooLargeError, match=r"pixels"):
        check_image_bytes(bomb, name="bomb.png")


def test_a_bomb_pillow_stops_in_open_is_worded_with_our_limit_not_pillows():
    with pytest.raises(errors.ImageTooLargeError) as info:  # Pillow raises above 2x its limit
        check_image_bytes(decompression_bomb_png(30000, 30000), name="bomb.png")
    message = str(info.value)
    assert message == "bomb.png: image is 900,000,000 pixels; the limit is 89,478,485 pixels (decompression-bomb guard)"
    assert info.value.input_name == "bomb.png"


@pytest.mark.parametrize("pillow_warning", ["error", "ignore"])  # pytest's filter, and a user's default
def test_a_bomb_pillow_only_warns_about_is_refused_whatever_the_warnings_filter(pillow_warning):
    with warnings.catch_warnings():
        warnings.simplefilter(pillow_warning, PILImage.DecompressionBombWarning)
        with pytest.raises(errors.ImageTooLargeError, match="100,000,000 pixels; the limit is 89,478,485") as info:
            check_image_bytes(decompression_bomb_png(10000, 10000), name="bomb.png")
    assert info.value.input_name == "bomb.png"


def test_decoding_on_many_threads_leaves_the_process_warnings_filters_alone():
    # catch_warnings in the decoder, run from the local backend's threads, once left an "error"
    # filter behind that made the user's own Pillow code raise.
    from concurrent.futures import ThreadPoolExecutor

    bomb, ok = decompression_bomb_png(10000, 10000), image_bytes("PNG")
    before = list(warnings.filters)

    def decode(data: bytes) -> str:
        try:
            decode_image(data)
            return "ok"
        except errors.ImageTooLargeError:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(decode, [bomb, ok] * 40))
    assert results == ["refused", "ok"] * 40
    assert warnings.filters == before


def test_format_sniffing_ignores_names():
    assert sniff_image_format(image_bytes("PNG")) == "PNG"
    assert sniff_image_format(b"GIF89a....") == "GIF"
    assert sniff_image_format(b"%PDF-1.7") is None


def test_video_containers_are_sniffed():
    assert sniff_video_format(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 8) == "MP4"
    assert sniff_video_format(b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 8) == "MOV"
    assert sniff_video_format(b"RIFF\x00\x00\x00\x00AVI LIST") == "AVI"
    assert sniff_video_format(b"\x1a\x45\xdf\xa3\x00\x00webm") == "WEBM"
    assert sniff_video_format(b"FLV\x01") == "FLV"
    assert sniff_video_format(b"just text") is None


def test_bad_video_bytes_are_refused():
    with pytest.raises(errors.InvalidVideoError, match="clip.mp4: video is empty"):
        check_video_bytes(b"", name="clip.mp4")
    with pytest.raises(errors.InvalidVideoError, match="not a recognised video container"):
        check_video_bytes(b"hello world" * 10, name="clip.mp4")


@pytest.mark.parametrize(
    "start,end,interval,match",
    [(-1, 10, 4, ">= 0"), (10, 10, 4, "greater than"), (0, 60, 2, "minimum of 4 s")],
)
def test_bad_video_segments_are_refused(start, end, interval, match):
    with pytest.raises(errors.InvalidVideoError, match=match):
        check_video_segment(start, end, interval)


def test_good_video_segment_passes():
    check_video_segment(0, 120, 16)
    check_video_segment(30.5, 60, 4)
    check_video_segment(0, 200, 16)  # longer than 120 s: cut, not refused (see test_wire)


@pytest.mark.parametrize("uri", ["gs://my-bucket/cats/1.jpg", "gs://b_1.example/x"])
def test_well_formed_gcs_uris_pass(uri):
    assert check_gcs_uri(uri) == uri


@pytest.mark.parametrize(
    "uri", ["gs://", "gs://bucket", "gs://bucket/", "gs://Bucket/x.jpg", "s3://bucket/x.jpg", "gs:/bucket/x", "gs://a/x",
            "gs://bucket/folder/", "gs://bu..cket/x"],
)
def test_malformed_gcs_uris_are_refused(uri):
    with pytest.raises(errors.InvalidURIError, match="not a well-formed Cloud Storage URI"):
        check_gcs_uri(uri)


def test_text_must_be_a_non_empty_string():
    assert check_text("a cat") == "a cat"
    with pytest.raises(errors.InvalidTextError, match="empty"):
        check_text("   ")
    with pytest.raises(errors.InvalidTextError, match="expected str"):
        check_text(42)  # type: ignore[arg-type]


def test_long_text_is_not_an_error_the_model_reads_the_first_32_tokens():
    long = "word " * 100
    assert check_text(long) == long
    assert text_token_estimate(long) == 100
    assert MULTIMODAL_EMBEDDING_001.text_max_tokens == 32


def test_input_errors_are_value_errors_and_carry_the_input_name():
    with pytest.raises(ValueError) as info:
        check_image_bytes(b"", name="x.jpg")
    assert isinstance(info.value, errors.InputError)
    assert info.value.input_name == "x.jpg"
