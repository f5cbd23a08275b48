"""FlatIndex: exact answers, id-based writes, and refusal of vectors it cannot compare."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm import Embeddings, EmbeddingSpace
from vertex_mm.errors import EmbeddingSpaceMismatchError, InputError, InvalidImageError
from vertex_mm.index import (
    DuplicateIdError,
    FlatIndex,
    Hit,
    IndexConfig,
    InvalidVectorError,
    UnknownIdError,
    create_index,
    load_index,
)


def _ids(n: int) -> list[str]:
    return [f"img-{i:04d}" for i in range(n)]


@pytest.fixture
def filled(space, make_vectors):
    vecs = make_vectors(500, seed=1)
    index = FlatIndex(space)
    index.add(_ids(500), vecs, [{"n": i, "parity": "even" if i % 2 == 0 else "odd"} for i in range(500)])
    return index, vecs


def test_batched_search_equals_full_sort(filled, make_vectors, brute_force):
    index, vecs = filled
    queries = make_vectors(12, seed=2)
    res = index.search(queries, k=10)
    _, ref_rows = brute_force(np.asarray(vecs), np.asarray(queries), 10)
    assert res.ids == [[f"img-{r:04d}" for r in row] for row in ref_rows]
    assert recall_at_k(res.ids, [[f"img-{r:04d}" for r in row] for row in ref_rows]) == 1.0


def recall_at_k(got: list[list[str]], truth: list[list[str]]) -> float:
    return float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(got, truth)]))


def test_scores_are_cosine_similarities_of_unnormalised_input(space):
    raw = np.array([[3.0] + [0.0] * 31, [1.0, 1.0] + [0.0] * 30], dtype=np.float32)
    index = FlatIndex(space)
    index.add(["x", "diag"], Embeddings(raw, space))
    hits = index.search(Embeddings(np.array([[10.0] + [0.0] * 31], dtype=np.float32), space), k=2)[0]
    assert [h.id for h in hits] == ["x", "diag"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    assert hits[1].score == pytest.approx(1 / np.sqrt(2), abs=1e-6)


def test_a_stored_vector_finds_itself_first(filled):
    index, vecs = filled
    hit = index.search(vecs[42:43], k=1)[0][0]
    assert hit.id == "img-0042" and hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.metadata == {"n": 42, "parity": "even"}


def test_k_larger_than_the_index_returns_every_row(space, make_vectors):
    index = FlatIndex(space)
    index.add(["a", "b", "c"], make_vectors(3))
    res = index.search(make_vectors(2, seed=9), k=10)
    assert [len(h) for h in res] == [3, 3]
    assert res.scores.shape == (2, 10) and np.isneginf(res.scores[:, 3:]).all()


def test_empty_index_returns_no_hits(space, make_vectors):
    res = FlatIndex(space).search(make_vectors(2), k=3)
    assert list(res) == [[], []]


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_k_must_be_a_positive_integer(filled, make_vectors, k):
    with pytest.raises(ValueError, match="k must be"):
        filled[0].search(make_vectors(1), k=k)


def test_k_may_be_a_numpy_integer(filled, make_vectors):
    assert [len(h) for h in filled[0].search(make_vectors(1), k=np.int64(3))] == [3]


def test_huge_and_tiny_vectors_keep_their_direction(space, tmp_path):
    # float32 norms of [1e20, 1e20, ...] overflow: the row was stored as zeros (scoring 0 against
    # everything), and a row of 1e-25 was refused as "all zeros".
    x = np.zeros((3, 32), np.float32)
    x[0, :2] = 1e20
    x[1, 5] = 1e-25
    x[2, :3] = 3e38
    index = FlatIndex(space)
    index.add(["huge", "tiny", "top"], Embeddings(x, space))
    for i, name in enumerate(["huge", "tiny", "top"]):
        v = index.vector(name)[0]
        assert abs(np.linalg.norm(v) - 1) < 1e-6
        np.testing.assert_allclose(v, x[i] / np.linalg.norm(x[i].astype(np.float64)), atol=1e-7)
    assert index.search(Embeddings(x[1:2], space), k=1)[0][0].id == "tiny"


def test_metadata_is_kept_as_a_saved_index_reads_it(space, make_vectors, tmp_path):
    meta = {"tags": ["a"], "by_page": {3: "three"}}
    index = FlatIndex(space)
    index.add(["x"], make_vectors(1), [meta])
    meta["tags"].append(object())  # a later change to the caller's dict: the save still works
    index.save(tmp_path / "i")
    want = {"tags": ["a"], "by_page": {"3": "three"}}
    assert index.search(make_vectors(1), k=1)[0][0].metadata == want
    assert load_index(tmp_path / "i").search(make_vectors(1), k=1)[0][0].metadata == want


def test_an_id_that_is_not_utf8_is_saved_and_read_back(space, make_vectors, tmp_path):
    # An id from a file name that is not UTF-8 (lone surrogates): every save raised UnicodeEncodeError.
    index = FlatIndex(space)
    index.add(["caf\udce9.jpg", "b.jpg"], make_vectors(2))
    index.save(tmp_path / "i")
    assert set(load_index(tmp_path / "i").ids) == {"caf\udce9.jpg", "b.jpg"}


def test_add_of_an_existing_id_is_refused_and_nothing_changes(filled, make_vectors):
    index, _ = filled
    with pytest.raises(DuplicateIdError, match="img-0003.*upsert"):
        index.add(["new-1", "img-0003"], make_vectors(2, seed=5))
    assert "new-1" not in index and len(index) == 500


def test_an_id_twice_in_one_call_is_refused(space, make_vectors):
    with pytest.raises(DuplicateIdError, match="'a' appears more than once"):
        FlatIndex(space).add(["a", "a"], make_vectors(2))


def test_upsert_replaces_vector_and_metadata(filled, make_vectors):
    index, _ = filled
    new = make_vectors(1, seed=77)
    index.upsert(["img-0007"], new, [{"n": -7}])
    assert len(index) == 500
    hit = index.search(new, k=1)[0][0]
    assert (hit.id, hit.metadata) == ("img-0007", {"n": -7})
    np.testing.assert_allclose(index.vector("img-0007"), new, atol=1e-6)


def test_upsert_inserts_unknown_ids(filled, make_vectors):
    index, _ = filled
    index.upsert(["img-0001", "brand-new"], make_vectors(2, seed=8))
    assert len(index) == 501 and "brand-new" in index


def test_delete_removes_rows_from_results(filled):
    index, vecs = filled
    assert index.delete(["img-0042", "img-0043"]) == 2
    assert len(index) == 498 and "img-0042" not in index
    ids = index.search(vecs[42:43], k=5).ids[0]
    assert "img-0042" not in ids and "img-0043" not in ids


def test_delete_of_unknown_ids_raises_and_removes_nothing(filled):
    index, _ = filled
    with pytest.raises(UnknownIdError, match="'ghost'"):
        index.delete(["img-0001", "ghost"])
    assert "img-0001" in index
    assert index.delete(["img-0001", "ghost"], missing_ok=True) == 1


def test_deleted_id_can_be_added_again(filled, make_vectors):
    index, _ = filled
    index.delete(["img-0005"])
    index.add(["img-0005"], make_vectors(1, seed=3))
    assert "img-0005" in index and len(index) == 500


def test_vectors_of_another_space_are_refused_on_add(space, make_vectors):
    other = EmbeddingSpace("test", "gaussian", 32, variant="other-projection")
    with pytest.raises(EmbeddingSpaceMismatchError, match="other-projection"):
        FlatIndex(space).add(["a"], make_vectors(1, sp=other))


def test_queries_of_another_space_are_refused(filled, make_vectors):
    other = EmbeddingSpace("vertex", "multimodalembedding@001", 32)
    with pytest.raises(EmbeddingSpaceMismatchError, match="multimodalembedding@001"):
        filled[0].search(make_vectors(1, sp=other))


def test_bare_arrays_are_refused_with_a_hint(space):
    with pytest.raises(InvalidVectorError, match=r"Embeddings\(array, index.space\)"):
        FlatIndex(space).add(["a"], np.ones((1, 32), dtype=np.float32))  # type: ignore[arg-type]


def test_failed_embeddings_are_refused_naming_the_id(space, make_vectors):
    vecs = make_vectors(3)
    arr = np.asarray(vecs).copy()
    arr[1] = np.nan
    failed = Embeddings(arr, space, [None, InvalidImageError("broken.jpg: cannot decode"), None])
    index = FlatIndex(space)
    with pytest.raises(InvalidVectorError, match=r"id 'b'.*InvalidImageError.*broken.jpg"):
        index.add(["a", "b", "c"], failed)
    assert len(index) == 0


def test_skip_failed_adds_the_good_rows_and_reports_the_rest(space, make_vectors):
    arr = np.asarray(make_vectors(3)).copy()
    arr[2] = np.nan
    index = FlatIndex(space)
    skipped = index.add(["a", "b", "c"], Embeddings(arr, space), skip_failed=True)
    assert index.ids == ["a", "b"]
    assert set(skipped) == {"c"} and "NaN" in skipped["c"]


def test_zero_vectors_are_refused(space):
    with pytest.raises(InvalidVectorError, match="all zeros"):
        FlatIndex(space).add(["z"], Embeddings(np.zeros((1, 32), np.float32), space))


def test_nan_queries_are_refused(filled, space):
    with pytest.raises(InvalidVectorError, match="queries.*NaN"):
        filled[0].search(Embeddings(np.full((1, 32), np.nan, np.float32), space))


def test_ids_must_be_non_empty_strings(space, make_vectors):
    with pytest.raises(InputError, match="non-empty strings"):
        FlatIndex(space).add([3], make_vectors(1))  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not one string"):
        FlatIndex(space).add("abc", make_vectors(1))  # type: ignore[arg-type]


def test_metadata_must_be_json_serialisable(space, make_vectors):
    with pytest.raises(InputError, match="'a'.*JSON"):
        FlatIndex(space).add(["a"], make_vectors(1), [{"when": object()}])


def test_iter_rows_skips_deleted_rows(filled):
    index, _ = filled
    index.delete(["img-0000", "img-0499"])
    seen = [i for ids, vecs, metas in index.iter_rows(batch_size=64) for i in ids]
    assert seen == [f"img-{i:04d}" for i in range(1, 499)]


def test_create_index_builds_the_named_backend(space):
    assert isinstance(create_index(IndexConfig(space), "flat"), FlatIndex)
    with pytest.raises(ValueError, match="backend"):
        create_index(space, "annoy")


def test_hit_repr_is_short():
    assert repr(Hit("cat.jpg", 0.98765, {})) == "Hit(id='cat.jpg', score=0.9877)"


@pytest.mark.parametrize("call", [
    lambda idx, v: idx.search(v, k=0), lambda idx, v: idx.search(v, k="3"), lambda idx, v: idx.add("abc", v),
    lambda idx, v: idx.add(5, v), lambda idx, v: idx.add(["x", "y", "z"], v, [1, 2, 3]),
    lambda idx, v: idx.add(["x", "y", "z"], v, [{}]), lambda idx, v: idx.add(["x", "y", "z"], v, "meta"),
    lambda idx, v: idx.add(["x"], v),
])
def test_bad_arguments_are_typed_input_errors_and_keep_their_old_builtin_types(space, make_vectors, call):
    from vertex_mm.errors import InputError
    from vertex_mm.index import InvalidIndexArgumentError

    index = FlatIndex(space)
    index.add(["a", "b", "c"], make_vectors(3))
    with pytest.raises(InvalidIndexArgumentError) as caught:
        call(index, make_vectors(3, seed=5))
    assert isinstance(caught.value, InputError) and isinstance(caught.value, (TypeError, ValueError))
    assert len(index) == 3
