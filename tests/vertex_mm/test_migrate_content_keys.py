"""``migrate_index`` resumes by content, not by id alone: a journal record is reused only for
the file (or text) it was embedded from."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from factories import image_bytes
from old_indexes import save_001_index
from PIL import Image as PILImage

from vertex_mm import Image, get_embedder
from vertex_mm.index import load_index
from vertex_mm.index.build import find_images
from vertex_mm.jobs import Journal
from vertex_mm.migrate import migrate_index


def _gemini(emulator):
    return get_embedder("gemini", base_url=emulator.url, retry="none", requests_per_minute=None)


def _migrate(emulator, source, out, **kw):
    gemini = _gemini(emulator)
    try:
        return migrate_index(source, out, gemini, dimension=128, **kw)
    finally:
        gemini.close()


def _recolour(folder, shift):
    """Rewrite every JPEG under ``folder`` with other pixels, same names."""
    for i, path in enumerate(sorted(find_images(folder))):
        path.write_bytes(image_bytes("JPEG", size=(40, 30), color=((i * 50 + shift) % 256, 200, shift % 256)))


@pytest.fixture
def photos(emulator, image_folder, tmp_path):
    root = image_folder(4)
    return save_001_index(emulator.url, root, tmp_path / "old.idx"), root


def test_another_source_with_the_same_ids_is_embedded_not_taken_from_the_journal(emulator, hashed, image_folder,
                                                                                  photos, tmp_path):
    old, _ = photos
    other_root = image_folder(4, name="other")
    _recolour(other_root, 120)
    other = save_001_index(emulator.url, other_root, tmp_path / "other.idx")
    assert sorted(load_index(other).ids) == sorted(load_index(old).ids)  # the same relative paths
    assert _migrate(emulator, old, tmp_path / "new.idx").embedded == 4
    emulator.reset_stats()
    report = _migrate(emulator, other, tmp_path / "new.idx")
    assert report.complete and report.already_done == 0 and report.embedded == 4
    assert emulator.stats()["2xx"] == 4
    new = load_index(tmp_path / "new.idx")
    for item_id in new.ids:
        path = new.metadata(item_id)["path"]
        assert path.startswith(str(other_root))
        expected = hashed.embed_content(Image.load_from_file(path), dimension=128)
        np.testing.assert_allclose(np.asarray(new.vector(item_id))[0], expected, rtol=1e-5, atol=1e-6)


def test_an_edited_file_is_embedded_again_and_the_rest_is_not(emulator, hashed, photos, tmp_path):
    old, root = photos
    assert _migrate(emulator, old, tmp_path / "new.idx").embedded == 4
    edited = sorted(find_images(root))[1]
    edited.write_bytes(image_bytes("JPEG", size=(40, 30), color=(250, 10, 10)))
    emulator.reset_stats()
    report = _migrate(emulator, old, tmp_path / "new.idx")
    assert report.complete and report.already_done == 3 and report.embedded == 1
    assert emulator.stats()["2xx"] == 1
    new = load_index(tmp_path / "new.idx")
    (item_id,) = [i for i in new.ids if new.metadata(i)["path"] == str(edited)]
    expected = hashed.embed_content(Image.load_from_file(str(edited)), dimension=128)
    np.testing.assert_allclose(np.asarray(new.vector(item_id))[0], expected, rtol=1e-5, atol=1e-6)


def test_a_moved_source_folder_costs_no_request(emulator, photos, tmp_path):
    old, root = photos
    assert _migrate(emulator, old, tmp_path / "new.idx").embedded == 4
    moved = tmp_path / "moved"
    shutil.move(str(root), moved)  # the index's stored paths no longer exist: --root finds them
    emulator.reset_stats()
    report = _migrate(emulator, old, tmp_path / "new.idx", root=moved)
    assert report.complete and report.already_done == 4 and report.embedded == 0
    assert emulator.stats()["2xx"] == 0
    assert len(load_index(tmp_path / "new.idx")) == 4


def test_a_journal_written_before_content_keys_still_counts_by_id(emulator, photos, tmp_path):
    old, _ = photos
    space = get_embedder("gemini", base_url=emulator.url).content_space(128)
    ids = list(load_index(old).ids)
    with Journal(tmp_path / "new.idx.journal.jsonl", space=space.id) as journal:
        for n, item_id in enumerate(ids):
            vector = np.zeros(128, np.float32)
            vector[n] = 1.0
            journal.write({"id": item_id, "content_hash": f"migrated:{item_id}", "space": space.id,
                           "embedding": vector.tolist()})
    emulator.reset_stats()
    report = _migrate(emulator, old, tmp_path / "new.idx")
    assert report.complete and report.already_done == 4 and report.embedded == 0
    assert emulator.stats()["2xx"] == 0
    new = load_index(tmp_path / "new.idx")
    np.testing.assert_array_equal(np.asarray(new.vector(ids[2]))[0][:4], [0, 0, 1, 0])


def _jsonl_source(path, items):
    path.write_text("".join(json.dumps({"id": i, "metadata": {"path": str(p)}}) + "\n" for i, p in items))
    return path


def _bmp(top_colour):
    """A 300 x 300 BMP, white but for its top half: BMP rows are stored bottom-up, so two of them
    differ only after their first 64 KiB, at the same size."""
    img = PILImage.new("RGB", (300, 300), (255, 255, 255))
    img.paste(top_colour, (0, 0, 300, 150))
    buf = io.BytesIO()
    img.save(buf, "BMP")
    return buf.getvalue()


def test_same_size_files_that_differ_only_past_their_first_64_kib_are_told_apart(emulator, hashed, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = tmp_path / "a" / "scan.bmp", tmp_path / "b" / "scan.bmp"
    a.write_bytes(_bmp((200, 0, 0)))
    b.write_bytes(_bmp((0, 0, 200)))
    assert a.stat().st_size == b.stat().st_size and a.read_bytes()[:65536] == b.read_bytes()[:65536]
    assert _migrate(emulator, _jsonl_source(tmp_path / "a.jsonl", [("scan.bmp", a)]), tmp_path / "new.idx").embedded == 1
    report = _migrate(emulator, _jsonl_source(tmp_path / "b.jsonl", [("scan.bmp", b)]), tmp_path / "new.idx")
    assert report.embedded == 1 and report.already_done == 0
    expected = hashed.embed_content(Image.load_from_file(str(b)), dimension=128)
    np.testing.assert_allclose(np.asarray(load_index(tmp_path / "new.idx").vector("scan.bmp"))[0], expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("what", ["fails", "missing"])
def test_an_item_of_another_source_never_gets_the_first_sources_vector(emulator, tmp_path, what):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b, c = tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "b" / "y.jpg"
    a.write_bytes(image_bytes("JPEG", size=(40, 30), color=(10, 200, 10)))
    c.write_bytes(image_bytes("JPEG", size=(40, 30), color=(10, 10, 200)))
    if what == "fails":
        b.write_bytes(b"\xff\xd8 a damaged JPEG")
    assert _migrate(emulator, _jsonl_source(tmp_path / "a.jsonl", [("x.jpg", a)]), tmp_path / "new.idx").embedded == 1
    report = _migrate(emulator, _jsonl_source(tmp_path / "b.jsonl", [("x.jpg", b), ("y.jpg", c)]), tmp_path / "new.idx")
    assert ("x.jpg" in report.failed) if what == "fails" else (report.missing_source == ["x.jpg"])
    assert list(load_index(tmp_path / "new.idx").ids) == ["y.jpg"]  # x.jpg: no row, not source A's vector


def test_an_earlier_index_with_none_of_the_items_current_vectors_is_removed_not_left(emulator, tmp_path):
    (tmp_path / "a").mkdir()
    a = tmp_path / "a" / "x.jpg"
    a.write_bytes(image_bytes("JPEG", size=(40, 30), color=(10, 200, 10)))
    assert _migrate(emulator, _jsonl_source(tmp_path / "a.jsonl", [("x.jpg", a)]), tmp_path / "new.idx").written
    report = _migrate(emulator, _jsonl_source(tmp_path / "b.jsonl", [("x.jpg", tmp_path / "gone.jpg")]),
                      tmp_path / "new.idx")
    assert not report.written and report.removed_stale and not (tmp_path / "new.idx").exists()
    assert "removed" in report.summary() and (tmp_path / "new.idx.journal.jsonl").exists()  # the vectors stay


def test_an_id_twice_in_a_jsonl_source_is_one_item_of_its_last_line(emulator, tmp_path):
    # `vertex-mm embed` appends a changed file's new line: the last line of an id wins.
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(image_bytes("JPEG", size=(40, 30), color=(10, 200, 10)))
    b.write_bytes(image_bytes("JPEG", size=(40, 30), color=(200, 10, 10)))
    report = _migrate(emulator, _jsonl_source(tmp_path / "s.jsonl", [("x", a), ("x", b)]), tmp_path / "new.idx")
    assert report.items == report.embedded == 1
    assert load_index(tmp_path / "new.idx").metadata("x")["path"] == str(b)


def test_records_counted_by_id_alone_are_said_in_the_summary(emulator, photos, tmp_path):
    old, _ = photos
    space = get_embedder("gemini", base_url=emulator.url).content_space(128)
    with Journal(tmp_path / "new.idx.journal.jsonl", space=space.id) as journal:
        for item_id in list(load_index(old).ids)[:3]:
            journal.write({"id": item_id, "content_hash": f"migrated:{item_id}", "space": space.id,
                           "embedding": np.ones(128, np.float32).tolist()})
    report = _migrate(emulator, old, tmp_path / "new.idx")
    assert report.already_done == report.by_id_only == 3 and report.embedded == 1
    assert "3 of them counted by id alone" in report.summary()
