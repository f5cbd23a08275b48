"""A journal holds one embedding space: opening it for a run in another space is refused."""

from __future__ import annotations

import pytest

from vertex_mm.errors import EmbeddingSpaceMismatchError
from vertex_mm.jobs import Journal, JournalSpaceError

A = "vertex/multimodalembedding@001/1408"
B = "local/conse-effnet-minilm/1408"


def _write(path, space, ids):
    with Journal(path) as journal:
        for i in ids:
            journal.write({"id": i, "content_hash": "h" + i, "space": space, "embedding": [1.0, 0.0]})


def test_a_journal_of_another_space_is_refused_naming_both_and_left_as_it_was(tmp_path):
    path = tmp_path / "out.jsonl"
    _write(path, A, ["a", "b", "c"])
    before = path.read_bytes()
    with pytest.raises(JournalSpaceError) as info:
        Journal(path, space=B).open()
    message = str(info.value)
    assert f"3 in {A!r}" in message and repr(B) in message and "new output" in message
    assert isinstance(info.value, EmbeddingSpaceMismatchError)
    assert info.value.found == {A: 3} and info.value.expected == B
    assert path.read_bytes() == before
    with Journal(path, space=A) as journal:  # the refused open released the lock
        assert journal.is_done("a", "ha")


def test_the_task_is_part_of_a_journals_space(tmp_path):
    path = tmp_path / "new.idx.journal.jsonl"
    _write(path, "gemini/gemini-embedding-2/768;task=retrieval_document", ["a"])
    with pytest.raises(JournalSpaceError):
        Journal(path, space="gemini/gemini-embedding-2/768;task=classification").open()


def test_records_without_a_space_and_a_journal_opened_without_one_are_not_compared(tmp_path):
    path = tmp_path / "out.jsonl"
    with Journal(path) as journal:
        journal.write({"id": "x", "content_hash": "hx", "embedding": [1.0]})
    _write(path, A, ["a"])
    with Journal(path, space=A) as journal:
        assert journal.is_done("x", "hx") and journal.is_done("a", "ha")
    with Journal(path) as journal:
        assert journal.scanned == 2


def test_a_journal_written_under_the_models_alias_resumes_in_its_canonical_space(tmp_path):
    # Before "multimodalembedding" was named by @001's id, its journals held this space id.
    path = tmp_path / "out.jsonl"
    _write(path, "vertex/multimodalembedding/128", ["a", "b"])
    with Journal(path, space="vertex/multimodalembedding@001/128") as journal:
        assert journal.is_done("a", "ha") and journal.is_done("b", "hb")
    with pytest.raises(JournalSpaceError):  # a real other space is still refused
        Journal(path, space="vertex/multimodalembedding@001/256").open()


def test_a_batch_state_written_under_the_models_alias_is_reattached(tmp_path):
    from vertex_mm.jobs.batch_errors import BatchJobStateError
    from vertex_mm.jobs.batch_state import JobState

    state = JobState(source="src", output="out", model="multimodalembedding", space="vertex/multimodalembedding/128",
                     dimension=128, task=None, digest="d", display_name="n", staged_inputs=[], output_prefix="p",
                     rows=1)
    path = tmp_path / "out.jsonl.job.json"
    state.check_matches(path=path, model="multimodalembedding@001", space="vertex/multimodalembedding@001/128")
    with pytest.raises(BatchJobStateError):
        state.check_matches(path=path, model="multimodalembedding@001", space="vertex/multimodalembedding@001/512")
