"""Image / Video / VideoSegmentConfig keep the vertexai.vision_models constructors."""

from __future__ import annotations

import pytest

from vertex_mm import Image, Video, VideoSegmentConfig
from vertex_mm.errors import InvalidURIError
from vertex_mm.media import as_image


def test_load_from_file_reads_bytes(tmp_path, jpeg_bytes):
    p = tmp_path / "cat.jpg"
    p.write_bytes(jpeg_bytes)
    img = Image.load_from_file(str(p))
    assert img.data == jpeg_bytes and img.gcs_uri is None
    assert img.mime_type == "image/jpeg"
    assert img._image_bytes == jpeg_bytes


def test_load_from_gcs_uri_keeps_the_uri():
    img = Image.load_from_file("gs://bucket/a/cat.jpg")
    assert img.gcs_uri == "gs://bucket/a/cat.jpg" and img.data is None


def test_storage_https_url_becomes_gs_uri():
    v = Video.load_from_file("https://storage.googleapis.com/bucket/clips/a%20b.mp4")
    assert v.gcs_uri == "gs://bucket/clips/a b.mp4"


def test_exactly_one_source_is_required(jpeg_bytes):
    with pytest.raises(ValueError, match="Either image_bytes or gcs_uri"):
        Image()
    with pytest.raises(ValueError, match="Either video_bytes or gcs_uri"):
        Video(video_bytes=b"x", gcs_uri="gs://b/x.mp4")


def test_malformed_gcs_uri_fails_at_construction():
    with pytest.raises(InvalidURIError, match="gs://BUCKET/OBJECT"):
        Image(gcs_uri="gs://bucket")


def test_segment_config_defaults_and_segments():
    c = VideoSegmentConfig()
    assert (c.start_offset_sec, c.end_offset_sec, c.interval_sec) == (0, 120, 16)
    assert VideoSegmentConfig(0, 10, 4).segments() == [(0, 4), (4, 8), (8, 10)]
    assert VideoSegmentConfig(0, 120, 16).segments(duration=20) == [(0, 16), (16, 20)]


def test_as_image_accepts_paths_bytes_and_images(tmp_path, jpeg_bytes):
    p = tmp_path / "x.jpg"
    p.write_bytes(jpeg_bytes)
    assert as_image(p).data == jpeg_bytes
    assert as_image(jpeg_bytes).data == jpeg_bytes
    img = Image(jpeg_bytes)
    assert as_image(img) is img
    with pytest.raises(TypeError, match="cannot use int"):
        as_image(3)


def test_as_image_accepts_a_vertexai_image(jpeg_bytes):
    from vertexai.vision_models import Image as VImage

    assert as_image(VImage(image_bytes=jpeg_bytes)).data == jpeg_bytes
    assert as_image(VImage(gcs_uri="gs://bucket/c.png")).gcs_uri == "gs://bucket/c.png"
