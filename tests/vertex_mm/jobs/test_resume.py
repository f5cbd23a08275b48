"""ResumeSet: the journal's resume bookkeeping in 16 bytes a record (issue 11 L7)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vertex_mm.jobs import ResumeSet
from vertex_mm.jobs import resume as resume_mod


def test_matches_compares_the_content_and_the_latest_record_wins():
    done = ResumeSet()
    done.add("a.jpg", "h1")
    assert done.matches("a.jpg", "h1") and not done.matches("a.jpg", "h2") and done.matches("a.jpg", None)
    assert "a.jpg" in done and "b.jpg" not in done and 5 not in done
    done.add("a.jpg", "h2")
    assert done.matches("a.jpg", "h2") and not done.matches("a.jpg", "h1")
    assert len(done) == 1


def test_bulk_build_keeps_the_last_record_of_each_id():
    done = ResumeSet.from_pairs([("a", "1"), ("b", "1"), ("a", "2"), ("c", "1"), ("a", "3")])
    assert len(done) == 3
    assert done.matches("a", "3") and not done.matches("a", "2") and done.matches("b", "1")


def test_ids_that_are_not_utf8_file_names_are_kept_too():
    odd = b"caf\xe9.jpg".decode("utf-8", "surrogateescape")  # how Python names such a file
    done = ResumeSet.from_pairs([(odd, "h")])
    assert done.matches(odd, "h") and not done.matches("café.jpg", "h")


def test_records_added_during_a_run_are_merged_into_the_sorted_arrays(monkeypatch):
    monkeypatch.setattr(resume_mod, "_MIN_MERGE", 8)
    done = ResumeSet.from_pairs((f"old{i}", "h") for i in range(100))
    for i in range(50):
        done.add(f"new{i}", "h")
        done.add(f"old{i}", "changed")
    assert len(done._recent) < 8  # merged several times on the way
    assert all(done.matches(f"new{i}", "h") for i in range(50))
    assert all(done.matches(f"old{i}", "changed") and not done.matches(f"old{i}", "h") for i in range(50))
    assert all(done.matches(f"old{i}", "h") for i in range(50, 100))
    assert len(done) == 150
    assert np.all(np.diff(done._keys.astype(np.float64)) > 0)  # sorted, unique


def test_a_million_records_cost_about_16_bytes_each_not_300():
    n = 1_000_000
    done = ResumeSet.from_pairs((f"photos/{i:08d}.jpg", f"sha256:{i:064x}") for i in range(n))
    assert len(done) == n
    assert done.nbytes <= 17 * n  # two uint64 a record
    # What the dict it replaces held, for the same records (measured, not assumed):
    sample = {f"photos/{i:08d}.jpg": f"sha256:{i:064x}" for i in range(10_000)}
    per_record = (sys.getsizeof(sample) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in sample.items())) / 1e4
    assert per_record > 10 * done.nbytes / n
    for _ in range(3 * resume_mod._MIN_MERGE):  # records added during a run go to the dict first
        done.add(f"new/{_}", "h")
    assert done.nbytes <= 24 * len(done)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "\ud800", ""]), st.sampled_from(["", "h1", "h2"])),
                max_size=40),
       st.integers(0, 40))
def test_it_answers_like_a_dict_of_the_latest_records(records, split):
    """Bulk-built from a prefix, the rest added one by one: the same answers as a dict."""
    model = dict(records)
    done = ResumeSet.from_pairs(records[:split])
    for item_id, content_hash in records[split:]:
        done.add(item_id, content_hash)
    for item_id in ["a", "b", "c", "d", "\ud800", "", "zz"]:
        assert (item_id in done) == (item_id in model)
        for content_hash in ["", "h1", "h2"]:
            assert done.matches(item_id, content_hash) == (model.get(item_id) == content_hash)
    assert len(done) == len(model)


@pytest.mark.parametrize("merge_first", [False, True])
def test_an_empty_set_matches_nothing(merge_first):
    done = ResumeSet()
    if merge_first:
        assert len(done) == 0
    assert not done.matches("a", None) and "a" not in done
