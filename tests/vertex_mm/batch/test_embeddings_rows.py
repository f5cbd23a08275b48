"""``Embeddings.errors`` stays with its row through numpy calls that move rows, or is dropped
with the space (a plain array, as arithmetic gives): never handed to another row. np.take and
np.roll kept the list as it was, so ``vecs[vecs.ok]`` kept a NaN row and dropped a good one."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from vertex_mm.errors import InputError
from vertex_mm.results import Embeddings, EmbeddingSpace

SPACE = EmbeddingSpace("vertex", "multimodalembedding@001", 3)
BAD = InputError("bad.jpg: not an image")


def _said(errors: list) -> list:
    return [None if e is None else f"{type(e).__name__}: {e}" for e in errors]


@pytest.fixture
def vecs() -> Embeddings:
    """Row 1 failed; rows 0 and 2 are good and differ."""
    return Embeddings([[1, 0, 0], [np.nan] * 3, [0, 1, 0]], SPACE, [None, BAD, None])


@pytest.mark.parametrize(("name", "move", "rows"), [
    ("np.take", lambda a: np.take(a, [1, 0, 2], axis=0), [1, 0, 2]),
    ("a.take", lambda a: a.take([2, 1], axis=0), [2, 1]),
    ("np.take mode=wrap", lambda a: np.take(a, [4, -1], axis=0, mode="wrap"), [1, 2]),
    ("np.roll", lambda a: np.roll(a, 1, axis=0), [2, 0, 1]),
    ("np.roll shift=-1", lambda a: np.roll(a, shift=-1, axis=-2), [1, 2, 0]),
    ("np.compress", lambda a: np.compress([False, True, True], a, axis=0), [1, 2]),
    ("a.compress", lambda a: a.compress([True, True, False], axis=0), [0, 1]),
    ("np.repeat", lambda a: np.repeat(a, 2, axis=0), [0, 0, 1, 1, 2, 2]),
    ("np.flip", lambda a: np.flip(a, axis=0), [2, 1, 0]),
    ("a[[1, 0]]", lambda a: a[[1, 0]], [1, 0]),
    ("a[::-1]", lambda a: a[::-1], [2, 1, 0]),
    ("a.copy()", lambda a: a.copy(), [0, 1, 2]),
    ("astype", lambda a: a.astype(np.float64), [0, 1, 2]),
    ("np.nan_to_num", lambda a: np.nan_to_num(a), [0, 1, 2]),
    ("pickle", lambda a: pickle.loads(pickle.dumps(a)), [0, 1, 2]),
])
def test_errors_follow_their_rows(vecs, name, move, rows):
    out = move(vecs)
    assert isinstance(out, Embeddings) and out.space == SPACE, name
    assert _said(out.errors) == _said([vecs.errors[i] for i in rows]), name
    assert out.ok.tolist() == [i != 1 for i in rows], name
    good = np.asarray(out[out.ok])
    assert not np.isnan(good).any() and len(good) == sum(i != 1 for i in rows)


def test_split_parts_keep_their_rows_errors(vecs):
    parts = np.array_split(vecs, 2)
    assert [p.errors for p in parts] == [[None, BAD], [None]] and all(p.space == SPACE for p in parts)


@pytest.mark.parametrize(("name", "move"), [
    ("np.sort", lambda a: np.sort(a, axis=0)),
    ("np.roll flat", lambda a: np.roll(a, 1)),
    ("np.take of columns", lambda a: np.take(a, [2, 1, 0], axis=1)),
    ("np.unique", lambda a: np.unique(np.nan_to_num(a), axis=0)),
    ("np.empty_like", lambda a: np.empty_like(a)),
    ("np.delete", lambda a: np.delete(a, 0, axis=0)),
])
def test_what_cannot_keep_the_rows_errors_is_a_plain_array(vecs, name, move):
    out = move(vecs)
    assert type(out) is np.ndarray, name


def test_columns_moved_by_indexing_leave_the_space(vecs):
    out = vecs[:, ::-1]
    assert out.space is None and out.errors == vecs.errors
    assert vecs[:, :].space == SPACE
