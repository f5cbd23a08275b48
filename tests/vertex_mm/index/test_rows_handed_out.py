"""What an index hands out is the caller's: metadata copies, rows that a save during an export
neither skips nor repeats, and metadata refused at the door when JSON would drop part of it
(review findings 5, 6, 9 and 10)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.index import Filter, FlatIndex, load_index


@pytest.fixture
def pets(space, make_vectors):
    index = FlatIndex(space)
    index.add(["a", "b"], make_vectors(2), [{"tags": ["cat"], "info": {"n": 1}}, {"tags": ["dog"], "info": {"n": 2}}])
    return index


def test_changing_metadata_handed_out_leaves_the_index_and_its_filters_alone(pets, make_vectors):
    q = make_vectors(1, seed=9)
    cats = Filter(allow={"tags": ["cat"]})
    assert [h.id for h in pets.search(q, k=2, filter=cats)[0]] == ["a"]
    for hit in pets.search(q, k=2)[0]:
        hit.metadata["tags"].append("cat")  # the proxy is read-only; the list was the index's own
        hit.metadata["info"]["n"] = 0
    for _, _, metas in pets.iter_rows():
        for meta in metas:
            meta["exported"] = True
            meta["tags"].append("bird")
    pets.metadata("b")["tags"].append("cat")
    pets.metadata("b")["info"]["n"] = 0
    assert pets.metadata("b") == {"tags": ["dog"], "info": {"n": 2}}
    assert [h.id for h in pets.search(q, k=2, filter=cats)[0]] == ["a"]  # the cached mask
    assert [h.id for h in pets.search(q, k=2, filter=Filter(allow={"tags": ["cat", "cow"]}))[0]] == ["a"]


@pytest.mark.parametrize("change", ["save", "delete", "upsert"])
def test_a_save_or_write_between_batches_of_iter_rows_skips_and_repeats_nothing(space, make_vectors, tmp_path, change):
    index = FlatIndex(space)
    ids = [f"r{i}" for i in range(10)]
    index.add(ids, make_vectors(10))
    index.delete(ids[:3])
    it = index.iter_rows(batch_size=4)
    seen = list(next(it)[0])
    if change == "save":
        index.save(tmp_path / "x.idx")  # drops the tombstones: rows renumbered
    elif change == "delete":
        index.delete(["r8"])
    else:
        index.upsert(["r9", "new"], make_vectors(2, seed=3))
    batches = list(it)
    seen += [i for ids_, _, _ in batches for i in ids_]
    live = [i for i in ids[3:] if i != "r8"] if change == "delete" else ids[3:]
    assert seen == live
    for ids_, vecs, _ in batches:  # each id with its own vector
        for id_, vec in zip(ids_, vecs):
            assert np.array_equal(vec, np.asarray(index.vector(id_))[0])


def test_iter_rows_refuses_a_batch_size_below_one(pets):
    with pytest.raises(InputError, match="batch_size"):
        next(pets.iter_rows(0))


def test_metadata_keys_that_json_makes_one_are_refused_naming_the_id(space, make_vectors):
    index = FlatIndex(space)
    with pytest.raises(InputError, match=r"'x'.*keys 1 and '1'"):
        index.add(["x"], make_vectors(1), [{1: "int key", "1": "str key"}])
    with pytest.raises(InputError, match=r"'y'.*keys True and 'true'"):
        index.add(["y"], make_vectors(1), [{"deep": [{True: 1, "true": 2}]}])
    index.add(["z"], make_vectors(1), [{1: "only one", "n": {2: "fine"}}])
    assert index.metadata("z") == {"1": "only one", "n": {"2": "fine"}} and len(index) == 1


def test_saving_to_dot_from_inside_the_index_folder_works(space, make_vectors, tmp_path, monkeypatch):
    # save(".") made the temporary folder inside the target and the swap failed with EBUSY.
    index = FlatIndex(space)
    index.add(["a"], make_vectors(1))
    path = index.save(tmp_path / "idx")
    index.add(["b"], make_vectors(1, seed=2))
    monkeypatch.chdir(path)
    assert index.save(".") == path
    sub = tmp_path / "sub"
    sub.mkdir()
    index.save(os.path.join(str(sub), "..", "idx"))  # normalised: no idx swapped inside sub/
    monkeypatch.chdir(tmp_path)
    assert sorted(load_index(path).ids) == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "sub"] and not any(sub.iterdir())
