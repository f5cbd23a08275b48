"""Filters: Vector Search restrict semantics on metadata, locally and translated for Vertex."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm.index import Filter, FlatIndex, NumericRestrict
from vertex_mm.index.errors import InvalidFilterError

ROWS = [
    {"tag": ["cat", "pet"], "year": 2019, "source": "phone"},
    {"tag": "dog", "year": 2021, "source": "camera"},
    {"tag": ["cat", "blurry"], "year": 2023.5, "source": "camera"},
    {"year": 2020},
    {"tag": [], "source": "phone", "flag": True},
]


def passing(flt: Filter) -> list[int]:
    return np.flatnonzero(flt.mask(ROWS)).tolist()


def test_equality_on_scalars():
    assert passing(Filter({"source": "camera"})) == [1, 2]


def test_equality_does_not_confuse_true_with_one():
    assert passing(Filter({"flag": 1})) == []
    assert passing(Filter({"flag": True})) == [4]


def test_allow_needs_one_shared_token_and_the_namespace():
    assert passing(Filter(allow={"tag": ["cat", "dog"]})) == [0, 1, 2]


def test_deny_excludes_rows_holding_a_denied_token_only():
    assert passing(Filter(deny={"tag": ["blurry"]})) == [0, 1, 3, 4]


def test_allow_and_deny_combine_as_in_vector_search():
    assert passing(Filter(allow={"tag": ["cat"]}, deny={"tag": ["blurry"]})) == [0]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [(">=", 2021, [1, 2]), ("<", 2020, [0]), ("==", 2020, [3]), ("!=", 2020, [0, 1, 2]), ("GREATER", 2023, [2])],
)
def test_numeric_restricts(op, value, expected):
    assert passing(Filter(numeric=[("year", op, value)])) == expected


def test_rows_without_the_number_fail_numeric_restricts():
    assert 4 not in passing(Filter(numeric=[("year", ">", 0)]))


def test_clauses_are_anded():
    assert passing(Filter({"source": "camera"}, numeric=[("year", "<", 2022)])) == [1]


def test_bad_operator_and_value_are_refused():
    with pytest.raises(ValueError, match="unknown operator"):
        NumericRestrict("year", "=>", 3)
    with pytest.raises(ValueError, match="finite number"):
        NumericRestrict("year", "<", float("nan"))


def test_a_bare_string_token_list_is_refused():
    with pytest.raises(TypeError, match=r"use \['cat'\]"):
        Filter(allow={"tag": "cat"})


def test_equal_filters_share_a_key():
    a = Filter({"x": 1}, allow={"t": ["b", "a"]})
    b = Filter({"x": 1}, allow={"t": ["a", "b"]})
    assert a == b and hash(a) == hash(b) and a.key() == b.key()


def test_a_plain_dict_means_equalities():
    assert Filter.coerce({"source": "phone"}) == Filter(equals={"source": "phone"})
    assert Filter.coerce(None) is None
    with pytest.raises(TypeError):
        Filter.coerce(["source"])  # type: ignore[arg-type]


def test_filtered_search_equals_search_over_the_allowed_rows(space, make_vectors, brute_force):
    vecs = make_vectors(2000, seed=4)
    metas = [{"shard": i % 10} for i in range(2000)]
    index = FlatIndex(space)
    index.add([str(i) for i in range(2000)], vecs, metas)
    queries = make_vectors(5, seed=5)
    for flt, keep in [
        (Filter({"shard": 3}), lambda i: i % 10 == 3),                     # sparse: gathered rows
        (Filter(numeric=[("shard", "<", 8)]), lambda i: i % 10 < 8),       # dense: masked scan
    ]:
        picked = np.array([i for i in range(2000) if keep(i)])
        _, sub = brute_force(np.asarray(vecs)[picked], np.asarray(queries), 7)
        assert index.search(queries, k=7, filter=flt).ids == [[str(picked[j]) for j in row] for row in sub]


def test_filter_cache_follows_writes(space, make_vectors):
    index = FlatIndex(space)
    index.add(["a", "b"], make_vectors(2), [{"c": "red"}, {"c": "blue"}])
    q = make_vectors(1, seed=3)
    assert index.search(q, k=5, filter={"c": "red"}).ids == [["a"]]
    index.upsert(["b"], make_vectors(1, seed=4), [{"c": "red"}])
    assert sorted(index.search(q, k=5, filter={"c": "red"}).ids[0]) == ["a", "b"]
    index.delete(["a"])
    assert index.search(q, k=5, filter={"c": "red"}).ids == [["b"]]


def test_a_filter_matching_nothing_returns_no_hits(space, make_vectors):
    index = FlatIndex(space)
    index.add(["a"], make_vectors(1), [{"c": "red"}])
    assert index.search(make_vectors(1, seed=1), filter={"c": "green"})[0] == []


def test_translation_to_vector_search_namespaces():
    from google.cloud.aiplatform.matching_engine.matching_engine_index_endpoint import Namespace, NumericNamespace

    flt = Filter({"source": "camera", "year": 2021}, allow={"tag": ["pet", "cat"]}, deny={"tag": ["blurry"]},
                 numeric=[("score", ">=", 0.5)])
    namespaces, numeric = flt.to_vector_search()
    assert namespaces == [Namespace("source", ["camera"], []), Namespace("tag", ["cat", "pet"], ["blurry"])]
    assert numeric == [
        NumericNamespace(name="score", value_double=0.5, op="GREATER_EQUAL"),
        NumericNamespace(name="year", value_int=2021, op="EQUAL"),
    ]


def test_boolean_equalities_have_no_vector_search_form():
    with pytest.raises(ValueError, match="no Vector Search restrict form"):
        Filter({"flag": True}).to_vector_search()


def test_malformed_filters_are_typed_input_errors_and_still_the_old_builtin_types():
    from vertex_mm.errors import InputError
    from vertex_mm.index import InvalidFilterError

    for make in (lambda: Filter(["tag"]), lambda: Filter(allow={"tag": 5}), lambda: Filter(numeric=[("year", ">=")]),
                 lambda: Filter(numeric=[("year", ">=", 2**70)]), lambda: Filter(numeric=5)):
        with pytest.raises(InvalidFilterError) as caught:
            make()
        assert isinstance(caught.value, (InputError, TypeError, ValueError))


def test_a_missing_index_folder_is_a_typed_error_and_a_file_not_found_error(tmp_path):
    from vertex_mm.index import IndexNotFoundError, load_index

    with pytest.raises(IndexNotFoundError) as caught:
        load_index(tmp_path / "nope")
    assert isinstance(caught.value, FileNotFoundError)


def test_tokens_are_what_the_vector_search_export_writes():
    # Locally 2020 was the token "2020", True "True" and ["cat", 1] {"cat", "1"}; the export
    # writes no token restricts for them, so Vector Search answered otherwise (review finding 4).
    from vertex_mm.index.export.vector_search import RestrictsMapping

    rows = [{"year": 2020, "flag": True, "tags": ["cat", 1]}, {"year": "2020", "tags": ["cat"]}]
    exported = [{r["namespace"] for r in RestrictsMapping().restricts(m)} for m in rows]
    for ns, token in (("year", "2020"), ("flag", "True"), ("tags", "cat")):
        local = Filter(allow={ns: [token]}).mask(rows).tolist()
        assert local == [ns in e for e in exported], ns
        assert Filter(deny={ns: [token]}).mask(rows).tolist() == [ns not in e for e in exported], ns


@pytest.mark.parametrize("clause", [{"allow": {"x": [None]}}, {"deny": {"x": [2020]}}, {"allow": {"x": [True]}}])
def test_a_token_that_is_not_a_string_is_refused(clause):
    with pytest.raises(InvalidFilterError, match="tokens are strings"):
        Filter(**clause)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_equality_is_refused_like_a_numeric_restrict(value):
    with pytest.raises(InvalidFilterError, match="finite"):
        Filter(equals={"x": value})
