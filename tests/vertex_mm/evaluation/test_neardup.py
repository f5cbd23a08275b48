"""Near-duplicates: each edit does what it says, files and manifest are reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from vertex_mm.evaluation import TRANSFORMS, load_neardup_manifest, make_near_duplicates, near_duplicate
from vertex_mm.evaluation.neardup import main
from vertex_mm.sample_data import sample_photos_dir


@pytest.fixture(scope="module")
def photo() -> PILImage.Image:
    with PILImage.open(sample_photos_dir() / "coffee_cup.jpg") as im:  # 600 x 400
        return im.convert("RGB")


@pytest.mark.parametrize("seed", range(5))
def test_crop_keeps_80_to_90_percent_of_each_side(photo, seed):
    out, quality = near_duplicate(photo, "crop", seed=seed)
    assert 0.8 * 600 - 1 <= out.width <= 0.9 * 600 + 1 and 0.8 * 400 - 1 <= out.height <= 0.9 * 400 + 1
    assert quality == 95


@pytest.mark.parametrize("seed", range(5))
def test_resize_scales_down_to_40_to_70_percent(photo, seed):
    out, _ = near_duplicate(photo, "resize", seed=seed)
    assert 0.4 * 600 - 1 <= out.width <= 0.7 * 600 + 1
    assert out.width / out.height == pytest.approx(1.5, rel=0.02)


def test_hflip_mirrors_the_pixels(photo):
    out, _ = near_duplicate(photo, "hflip")
    assert np.array_equal(np.asarray(out), np.asarray(photo)[:, ::-1])


def test_jpeg40_keeps_pixels_and_asks_for_quality_40(photo):
    out, quality = near_duplicate(photo, "jpeg40")
    assert quality == 40 and np.array_equal(np.asarray(out), np.asarray(photo))


def test_jitter_changes_colours_only_slightly(photo):
    out, _ = near_duplicate(photo, "jitter", seed=3)
    diff = np.abs(np.asarray(out, dtype=np.int16) - np.asarray(photo, dtype=np.int16))
    assert out.size == photo.size and 0 < diff.mean() < 20


def test_unknown_transform_is_refused(photo):
    with pytest.raises(ValueError, match="unknown transform"):
        near_duplicate(photo, "rotate")


def test_make_near_duplicates_writes_every_edit_and_a_manifest(tmp_path):
    photos = [sample_photos_dir() / "cat.jpg", sample_photos_dir() / "coins.jpg"]
    manifest = make_near_duplicates(photos, tmp_path / "nd", root=sample_photos_dir())
    pairs = load_neardup_manifest(manifest)
    assert len(pairs) == 2 * len(TRANSFORMS)
    assert {(p.target, p.transform) for p in pairs} == {(t, e) for t in ("cat.jpg", "coins.jpg") for e in TRANSFORMS}
    for p in pairs:
        with PILImage.open(p.query) as im:
            assert im.format == "JPEG"
    # quality 40 costs bytes: the recompressed copy is smaller than the quality-95 flip of the same pixels
    size = {p.transform: p.query.stat().st_size for p in pairs if p.target == "cat.jpg"}
    assert size["jpeg40"] < 0.7 * size["hflip"]


def test_targets_are_paths_relative_to_root_and_files_are_reproducible(tmp_path, photo_dir):
    photos = [photo_dir / "pets" / "cat.jpg", photo_dir / "coins.jpg"]
    first = make_near_duplicates(photos, tmp_path / "a", root=photo_dir, transforms=["crop", "jitter"], seed=7)
    second = make_near_duplicates(photos, tmp_path / "b", root=photo_dir, transforms=["crop", "jitter"], seed=7)
    rows = [json.loads(line) for line in first.read_text().splitlines()]
    assert rows[0] == {"query": "pets%2Fcat.jpg__crop.jpg", "target": "pets/cat.jpg", "transform": "crop"}
    assert first.read_text() == second.read_text()
    for row in rows:
        assert (first.parent / row["query"]).read_bytes() == (second.parent / row["query"]).read_bytes()
    other = make_near_duplicates(photos, tmp_path / "c", root=photo_dir, transforms=["crop"], seed=8)
    assert (other.parent / "coins.jpg__crop.jpg").read_bytes() != (first.parent / "coins.jpg__crop.jpg").read_bytes()


def test_photos_whose_names_differ_only_in_extension_or_slashes_get_their_own_copies(tmp_path, photo_dir):
    # cat.jpg and cat.png (or a/b.jpg and a__b.jpg) wrote one file, and one target pointed at
    # the other photo's edit: a sure miss for a perfect model.
    import shutil

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    shutil.copy(photo_dir / "coins.jpg", root / "cat.jpg")
    shutil.copy(photo_dir / "pets" / "cat.jpg", root / "cat.png")
    shutil.copy(photo_dir / "coins.jpg", root / "a" / "b.jpg")
    shutil.copy(photo_dir / "pets" / "cat.jpg", root / "a__b.jpg")
    photos = [root / "cat.jpg", root / "cat.png", root / "a" / "b.jpg", root / "a__b.jpg"]
    manifest = make_near_duplicates(photos, tmp_path / "nd", root=root, transforms=["crop"])
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len({r["query"] for r in rows}) == 4 and len(list((tmp_path / "nd").glob("*.jpg"))) == 4


def test_module_command_line(tmp_path, photo_dir, capsys):
    assert main([str(photo_dir), str(tmp_path / "nd")]) == 0
    assert f"{5 * len(TRANSFORMS)} near-duplicates of 5 photos" in capsys.readouterr().out
    assert main([str(tmp_path / "absent"), str(tmp_path / "nd2")]) == 2
