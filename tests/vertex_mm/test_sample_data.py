"""The shipped sample photos: real, small JPEGs that the generator reproduces byte for byte."""

from __future__ import annotations

import pytest
from PIL import Image

from vertex_mm.sample_data import sample_photos, sample_photos_dir, sample_queries, sample_query_images_dir


def test_between_15_and_25_small_real_jpegs():
    photos = sample_photos()
    assert 15 <= len(photos) <= 25
    assert sum(p.stat().st_size for p in photos) < 3 * 1024 * 1024
    for p in photos:
        with Image.open(p) as img:
            img.load()
            assert img.format == "JPEG" and img.mode == "RGB"
            assert max(img.size) <= 640 and min(img.size) >= 200


def test_every_query_names_an_existing_photo():
    queries = sample_queries()
    assert len(queries) >= 8
    names = {p.name for p in sample_photos()}
    for q in queries:
        assert q.expected in names
        assert (q.text is None) != (q.image is None)
        if q.image_path is not None:
            assert q.image_path.is_file() and q.image_path.parent == sample_query_images_dir()
            assert q.image_path.name not in names  # image queries are not in the indexed folder


def test_generator_reproduces_the_shipped_files(tmp_path):
    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    from vertex_mm.sample_data.build_samples import build

    for path in build(tmp_path):
        shipped = sample_photos_dir().parent / path.relative_to(tmp_path)
        assert shipped.read_bytes() == path.read_bytes(), f"{shipped.name} differs from what build_samples.py makes"
