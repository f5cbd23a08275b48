"""The queries file and the near-duplicate manifest: both formats read, bad lines named."""

from __future__ import annotations

import shutil

import pytest

from vertex_mm.errors import InputError
from vertex_mm.evaluation import load_neardup_manifest, load_queries, sample_eval_queries_path
from vertex_mm.sample_data import sample_photos_dir, sample_queries, sample_query_images_dir


def test_reads_text_queries_with_one_or_several_relevant_photos(write_jsonl):
    path = write_jsonl([
        {"text": "a cat", "relevant": ["pets/cat.jpg"]},
        "",
        "# a comment",
        {"text": "space", "relevant": ["rocket.jpg", "./astronaut.jpg", "rocket.jpg"], "note": "ignored"},
    ])
    q = load_queries(path)
    assert [(x.text, x.relevant, x.kind) for x in q] == [
        ("a cat", ("pets/cat.jpg",), "text"),
        ("space", ("rocket.jpg", "astronaut.jpg"), "text"),
    ]
    assert q[1].source.endswith("queries.jsonl:4")


def test_reads_the_sample_data_format_with_expected_and_image_queries():
    q = load_queries(sample_photos_dir().parent / "queries.jsonl")
    assert len(q) == len(sample_queries())
    cat_crop = [x for x in q if x.image is not None and x.image.name == "cat_face_crop.jpg"][0]
    assert cat_crop.image == sample_query_images_dir() / "cat_face_crop.jpg"
    assert cat_crop.relevant == ("cat.jpg",) and cat_crop.label == "[image] cat_face_crop.jpg"


def test_image_paths_are_read_relative_to_the_queries_file(write_jsonl, tmp_path):
    shutil.copy(sample_query_images_dir() / "cat_face_crop.jpg", tmp_path / "q.jpg")
    [q] = load_queries(write_jsonl([{"image": "q.jpg", "relevant": ["cat.jpg"]}]))
    assert q.image == tmp_path / "q.jpg"


def test_the_shipped_evaluation_queries_name_only_shipped_photos():
    queries = load_queries(sample_eval_queries_path())
    photos = {p.name for p in sample_photos_dir().glob("*.jpg")}
    assert all(set(q.relevant) <= photos for q in queries)
    # every photo is asked for at least twice, by text
    for name in photos:
        assert sum(name in q.relevant for q in queries if q.text) >= 2, name


@pytest.mark.parametrize(("row", "message"), [
    ('{"text": "a cat"', "not JSON"),
    ('["a cat"]', "expected a JSON object"),
    ({"relevant": ["cat.jpg"]}, "exactly one of"),
    ({"text": "a", "image": "b.jpg", "relevant": ["cat.jpg"]}, "exactly one of"),
    ({"text": "  ", "relevant": ["cat.jpg"]}, "non-empty string"),
    ({"text": "a cat"}, "\"relevant\" must be"),
    ({"text": "a cat", "relevant": []}, "\"relevant\" must be"),
    ({"text": "a cat", "relevant": [3]}, "\"relevant\" must be"),
    ({"image": "nowhere.jpg", "relevant": ["cat.jpg"]}, "not found"),
])
def test_a_bad_line_raises_input_error_naming_file_and_line(write_jsonl, row, message):
    path = write_jsonl([{"text": "fine", "relevant": ["cat.jpg"]}, row])
    with pytest.raises(InputError, match=message) as info:
        load_queries(path)
    assert info.value.input_name == f"{path}:2"


def test_an_empty_or_missing_file_is_an_input_error(write_jsonl, tmp_path):
    with pytest.raises(InputError, match="no queries"):
        load_queries(write_jsonl(["", "# nothing"]))
    with pytest.raises(InputError, match="cannot read"):
        load_queries(tmp_path / "absent.jsonl")


def test_manifest_query_paths_are_relative_to_the_manifest(write_jsonl, tmp_path):
    folder = tmp_path / "nd"
    folder.mkdir()
    shutil.copy(sample_query_images_dir() / "cat_face_crop.jpg", folder / "cat__crop.jpg")
    path = write_jsonl([{"query": "cat__crop.jpg", "target": "pets/cat.jpg", "transform": "crop"},
                        {"query": str(folder / "cat__crop.jpg"), "target": "cat.jpg"}], folder=folder, name="m.jsonl")
    a, b = load_neardup_manifest(path)
    assert (a.query, a.target, a.transform) == (folder / "cat__crop.jpg", "pets/cat.jpg", "crop")
    assert (b.query, b.transform) == (folder / "cat__crop.jpg", "")


@pytest.mark.parametrize(("row", "message"), [
    ({"query": "x.jpg"}, "needs \"query\""),
    ({"target": "cat.jpg"}, "needs \"query\""),
    ({"query": "missing.jpg", "target": "cat.jpg"}, "does not exist"),
])
def test_a_bad_manifest_line_raises_input_error(write_jsonl, row, message):
    path = write_jsonl([row], name="manifest.jsonl")
    with pytest.raises(InputError, match=message):
        load_neardup_manifest(path)
