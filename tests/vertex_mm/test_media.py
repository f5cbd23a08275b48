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


def test_a_json_api_download_url_names_its_own_bucket():
    # Blob.media_link: the bucket sits after /b/, and the object name is one quoted segment.
    url = "https://storage.googleapis.com/download/storage/v1/b/my-bucket/o/photos%2Fcat.png?alt=media"
    assert Image.load_from_file(url).gcs_uri == "gs://my-bucket/photos/cat.png"
    assert Image.load_from_file("https://storage.googleapis.com/storage/v1/b/my-bucket/o/a%20b.png").gcs_uri == \
        "gs://my-bucket/a b.png"


def test_a_url_pinned_to_one_generation_is_refused_not_read_as_the_live_object():
    with pytest.raises(InvalidURIError, match="pins one generation of the object"):
        Image.load_from_file("https://storage.googleapis.com/my-bucket/cat.png?generation=1712")


def test_an_upper_case_scheme_is_a_gcs_uri_and_a_bytes_path_is_a_path(tmp_path, jpeg_bytes):
    assert Image.load_from_file("GS://my-bucket/cat.png").gcs_uri == "gs://my-bucket/cat.png"
    p = tmp_path / "cat.jpg"
    p.write_bytes(jpeg_bytes)
    assert Image.load_from_file(bytes(p)).data == jpeg_bytes


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
    # bounds are start + k * step, not a running sum: 4.4 s steps drifted to 13.200000000000001
    assert VideoSegmentConfig(0, 40, 4.4).segments()[2:4] == [(8.8, 13.2), (13.2, 17.6)]
    assert VideoSegmentConfig(0.1, 9, 4.1).segments() == [(0.1, 4.2), (4.2, 8.3), (8.3, 9)]


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


def test_save_writes_the_bytes_as_vision_models_does(tmp_path, jpeg_bytes):
    img = Image(jpeg_bytes)
    img.save(str(tmp_path / "copy.jpg"))
    assert (tmp_path / "copy.jpg").read_bytes() == jpeg_bytes
    Video(b"\x00\x00\x00\x18ftypmp42").save(tmp_path / "clip.mp4")
    assert (tmp_path / "clip.mp4").read_bytes() == b"\x00\x00\x00\x18ftypmp42"


def test_the_picture_its_size_and_mime_type_are_read_from_the_bytes():
    from factories import image_bytes

    img = Image(image_bytes("PNG", size=(33, 17)))
    assert img._size == (33, 17)
    assert img._mime_type == "image/png"
    assert img._pil_image.format == "PNG"
    assert Image(b"not a picture")._mime_type == "image/jpeg"  # vision_models' fallback
    assert Video(b"????")._mime_type == "video/mp4"


def test_show_displays_in_a_notebook_and_does_nothing_elsewhere(monkeypatch, jpeg_bytes):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "IPython", None)  # not installed: nothing happens, as in vision_models
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    assert Image(jpeg_bytes).show() is None
    shown: list[object] = []
    fake = types.ModuleType("IPython.display")
    fake.display = shown.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    Image(jpeg_bytes).show()
    assert len(shown) == 1 and shown[0].size == Image(jpeg_bytes)._size  # type: ignore[attr-defined]
