"""``evaluate_images`` with the hashed embedder: exact plumbing, honest denominators."""

from __future__ import annotations

import shutil

import pytest
from factories import truncated

from vertex_mm.errors import InputError
from vertex_mm.evaluation import EvalQuery, NearDuplicate, evaluate_images


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def test_byte_identical_copies_find_their_photo_first(hashed, photo_dir, tmp_path):
    queries = [EvalQuery(None, _copy(photo_dir / "coins.jpg", tmp_path / "q" / "coins.jpg"), ("coins.jpg",)),
               EvalQuery(None, _copy(photo_dir / "pets" / "cat.jpg", tmp_path / "q" / "cat.jpg"), ("pets/cat.jpg",))]
    report = evaluate_images(hashed, photo_dir, queries=queries, ks=(1, 3))
    s = report.scores["image"]
    assert (s.n_queries, s.hit[1], s.hit[3], s.mrr) == (2, 1.0, 1.0, 1.0)
    assert report.n_images == 5 and report.ks == (1, 3)
    assert [o.top[0] for o in report.outcomes] == ["coins.jpg", "pets/cat.jpg"]
    assert all(len(o.top) == 3 for o in report.outcomes)
    assert report.space == hashed.space()


def test_text_ranks_cover_the_whole_folder_and_match_the_metrics(hashed, photo_dir):
    # Hashed text vectors are unrelated to the photos, so ranks are arbitrary but exact.
    queries = [EvalQuery(f"query {i}", None, ("rocket.jpg",)) for i in range(6)]
    report = evaluate_images(hashed, photo_dir, queries=queries, ks=(1, 5))
    ranks = [o.rank for o in report.outcomes]
    assert all(1 <= r <= 5 for r in ranks)
    s = report.scores["text"]
    assert s.hit[5] == 1.0  # five photos: everything is in the top 5
    assert s.hit[1] == pytest.approx(sum(r == 1 for r in ranks) / 6)
    assert s.mrr == pytest.approx(sum(1 / r for r in ranks) / 6)
    assert len(report.misses("text", 1)) == sum(r > 1 for r in ranks)


def test_query_files_inside_the_folder_are_not_part_of_the_gallery(hashed, photo_dir):
    dup = _copy(photo_dir / "rocket.jpg", photo_dir / "neardup" / "rocket__jpeg40.jpg")
    report = evaluate_images(hashed, photo_dir, neardup=[NearDuplicate(dup, "rocket.jpg", "jpeg40")])
    assert report.n_images == 5
    assert report.outcomes[0].rank == 1 and "neardup/rocket__jpeg40.jpg" not in report.outcomes[0].top
    assert report.neardup_by_transform() == {"jpeg40": 1.0}


def test_a_photo_that_fails_to_embed_is_listed_and_left_out(hashed, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(truncated((photo_dir / "coins.jpg").read_bytes(), 0.01))
    q = EvalQuery(None, _copy(photo_dir / "coins.jpg", tmp_path / "coins.jpg"), ("coins.jpg",))
    report = evaluate_images(hashed, photo_dir, queries=[q])
    assert list(report.skipped) == ["broken.jpg"] and "InvalidImageError" in report.skipped["broken.jpg"]
    assert report.n_images == 5 and report.outcomes[0].rank == 1


def test_a_relevant_photo_that_failed_counts_as_a_miss(hashed, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"not a jpeg at all")
    report = evaluate_images(hashed, photo_dir, queries=[EvalQuery("anything", None, ("broken.jpg",))])
    assert report.outcomes[0].rank is None and report.scores["text"].hit[5] == 0.0


def test_a_query_that_fails_to_embed_counts_as_a_miss(hashed, photo_dir, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    good = _copy(photo_dir / "coins.jpg", tmp_path / "good.jpg")
    report = evaluate_images(hashed, photo_dir, queries=[EvalQuery(None, bad, ("coins.jpg",)),
                                                         EvalQuery(None, good, ("coins.jpg",))])
    failed, ok = report.outcomes
    assert failed.rank is None and failed.top == () and "InvalidImageError" in failed.error
    assert ok.rank == 1 and ok.error is None
    assert report.scores["image"].hit[1] == 0.5


def test_a_relevant_photo_not_in_the_folder_is_an_input_error(hashed, photo_dir):
    with pytest.raises(InputError, match="cat.jpg not among the photos") as info:
        evaluate_images(hashed, photo_dir, queries=[EvalQuery("a cat", None, ("cat.jpg",), "q.jsonl:3")])
    assert info.value.input_name == "q.jsonl:3"


def test_nothing_to_evaluate_is_a_value_error(hashed, photo_dir):
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_images(hashed, photo_dir)
