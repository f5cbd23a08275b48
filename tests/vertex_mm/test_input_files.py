"""Typed errors for every local-file and URL input failure (issue 11 item 1): each is a
vertex-mm InputError that names the input, and keeps the built-in type existing code catches;
in a batch it is that input's error and the rest goes on."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest
from factories import image_bytes

from vertex_mm import Image, Video
from vertex_mm.errors import (
    ImageTooLargeError,
    InputError,
    InputIsADirectoryError,
    InputNotFoundError,
    InvalidURIError,
    UnreadableInputError,
    VideoTooLargeError,
)
from vertex_mm.limits import check_gcs_uri
from vertex_mm.testing import HashedEmbedder


def test_a_missing_file_is_input_not_found_and_file_not_found(tmp_path):
    with pytest.raises(InputNotFoundError, match="missing.jpg: no such image file") as caught:
        Image.load_from_file(tmp_path / "missing.jpg")
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, InputError)


def test_a_folder_is_input_is_a_directory(tmp_path):
    with pytest.raises(InputIsADirectoryError, match="is a folder") as caught:
        Image.load_from_file(tmp_path)
    assert isinstance(caught.value, IsADirectoryError)


def test_a_loop_of_symbolic_links_is_unreadable_input(tmp_path):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    with pytest.raises(UnreadableInputError, match="cannot read the image file") as caught:
        Image.load_from_file(tmp_path / "a.jpg")
    assert isinstance(caught.value, OSError)


def test_an_over_long_file_name_is_unreadable_input(tmp_path):
    with pytest.raises(UnreadableInputError):
        Image.load_from_file(tmp_path / ("x" * 300 + ".jpg"))


def test_a_nul_byte_in_a_path_is_unreadable_input():
    with pytest.raises(UnreadableInputError, match="NUL byte"):
        Image.load_from_file("photo\x00.jpg")


@pytest.mark.parametrize("url", ["http://example.com/a.jpg", "https://example.com/a.jpg", "HTTPS://example.com/a.jpg"])
def test_a_web_url_is_refused_with_the_way_out_and_never_read_as_a_path(url):
    with pytest.raises(InvalidURIError, match=r"web URLs are not fetched.*gs://") as caught:
        Image.load_from_file(url)
    assert "http:/example.com" not in str(caught.value)


def test_a_file_without_a_size_is_read_only_up_to_the_limit():
    """/dev/zero in a list file: refused after reading one byte over the limit, not forever."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(VideoTooLargeError, match="more than"):
        Video.load_from_file("/dev/zero")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: far below unbounded


def test_an_over_large_file_is_refused_from_its_size(tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: its size is known without reading it
    with pytest.raises(ImageTooLargeError, match="Cloud Storage"):
        Image.load_from_file(big)


@pytest.mark.parametrize("uri", ["gs://bkt/a.jpg\n", "gs://bkt/a\nb.jpg", "gs://bkt/a.jpg\r"])
def test_gs_uris_with_line_breaks_are_refused(uri):
    with pytest.raises(InvalidURIError):
        check_gcs_uri(uri)


def test_in_a_batch_each_bad_path_is_its_own_typed_error_and_the_rest_is_embedded(tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(image_bytes("JPEG"))
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    inputs = [good, tmp_path / "missing.jpg", tmp_path, tmp_path / "loop.jpg", "https://example.com/a.jpg",
              "bad\x00.jpg", str(good)]
    out = HashedEmbedder().embed_images(inputs, dimension=128, errors="collect")
    assert out.ok.tolist() == [True, False, False, False, False, False, True]
    kinds = [type(out.errors[i]) for i in range(1, 6)]
    assert kinds == [InputNotFoundError, InputIsADirectoryError, UnreadableInputError, InvalidURIError,
                     UnreadableInputError]
    assert not np.isnan(out[out.ok]).any()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_unreadable_input(tmp_path):
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(image_bytes("JPEG"))
    locked.chmod(0)
    with pytest.raises(UnreadableInputError, match="Permission denied"):
        Image.load_from_file(locked)
