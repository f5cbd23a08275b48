"""What a job has already done, in 16 bytes a record: the resume bookkeeping of a journal.

A job of 10 million inputs must know, for each input, whether the journal already holds it
with the same content. A ``dict`` of id -> content hash costs about 300 bytes a record in
Python (two ``str`` objects and a hash-table slot), about 2.8 GiB for 10 M inputs.
:class:`ResumeSet` keeps two 64-bit numbers a record instead, in sorted numpy arrays:

* the **key**, the first 8 bytes of the BLAKE2b hash of the id, and
* the **check**, 8 bytes of a second BLAKE2b hash of the id *and* the content hash.

``matches(id, content_hash)`` finds the key by binary search and compares the check. Records
added during a run go to a small dict first, merged into the arrays whenever it reaches 1/16
of them (a linear merge: numpy's stable sort merges two sorted runs in one pass), so the dict
never holds more than about 6 % of the records and the total stays near 16-24 bytes a record
(``tests/vertex_mm/jobs/test_resume.py`` checks it on 1,000,000 records, against ~300 for the
dict).

Why 64-bit hashes are safe enough here. A wrong "done" needs a record of *another* id whose
key AND check both equal this input's: two independent 64-bit hashes colliding at once, about
``n**2 / 2**129`` for n records (below 1e-24 for 10 million). A collision of keys alone (about
``n**2 / 2**65``, 3e-6 for 10 million) changes nothing: the checks differ, so the input is
embedded again and its line is the latest for its key. Exactly-once is kept: a record is
skipped only when the journal holds that id with that content.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable

import numpy as np

__all__ = ["ResumeSet", "id_key", "record_check"]

_EMPTY = np.zeros(0, np.uint64)
_MIN_MERGE = 4096
_MERGE_FRACTION = 16


def _text(value: str) -> bytes:
    # File names that are not valid UTF-8 reach Python as lone surrogates; hash them too.
    return value.encode("utf-8", "surrogatepass")


def id_key(item_id: str) -> int:
    """The 64-bit key of an id."""
    return int.from_bytes(hashlib.blake2b(_text(item_id), digest_size=8, person=b"vmm-id").digest(), "little")


def record_check(item_id: str, content_hash: str) -> int:
    """The 64-bit check of (id, content hash): independent of the key (another personalisation)."""
    h = hashlib.blake2b(digest_size=8, person=b"vmm-record")
    h.update(_text(item_id))
    h.update(b"\x00")
    h.update(_text(content_hash))
    return int.from_bytes(h.digest(), "little")


class ResumeSet:
    """Which ids are done, and with which content (the latest record per id wins).

    >>> done = ResumeSet()
    >>> done.add("a.jpg", "sha256:1f…")
    >>> done.matches("a.jpg", "sha256:1f…"), done.matches("a.jpg", "sha256:other"), "a.jpg" in done
    (True, False, True)

    ``id in done`` compares the 64-bit key only; :meth:`matches` compares key and check.
    """

    def __init__(self) -> None:
        self._keys = _EMPTY
        self._checks = _EMPTY
        self._recent: dict[int, int] = {}

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> ResumeSet:
        """Build from (id, content hash) pairs in journal order, in one sort (the bulk path of
        a resume scan; the pairs are never held in memory)."""
        keys, checks = array("Q"), array("Q")
        for item_id, content_hash in pairs:
            keys.append(id_key(item_id))
            checks.append(record_check(item_id, content_hash))
        out = cls()
        out._keys, out._checks = _latest(np.frombuffer(keys, np.uint64), np.frombuffer(checks, np.uint64))
        return out

    def add(self, item_id: str, content_hash: str) -> None:
        """Record that ``item_id`` is done with ``content_hash`` (replacing an earlier record)."""
        self._recent[id_key(item_id)] = record_check(item_id, content_hash)
        if len(self._recent) >= max(_MIN_MERGE, self._keys.size // _MERGE_FRACTION):
            self._merge()

    def matches(self, item_id: str, content_hash: str | None) -> bool:
        """Whether ``item_id`` is done with ``content_hash`` (any content when it is None)."""
        check = self._check_of(id_key(item_id))
        if check is None:
            return False
        return content_hash is None or check == record_check(item_id, content_hash)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._check_of(id_key(item_id)) is not None

    def __len__(self) -> int:
        self._merge()
        return int(self._keys.size)

    @property
    def nbytes(self) -> int:
        """Bytes held: the arrays, plus an estimate of the dict of recent records."""
        return int(self._keys.nbytes + self._checks.nbytes) + 112 * len(self._recent)

    def _check_of(self, key: int) -> int | None:
        check = self._recent.get(key)
        if check is not None:
            return check
        keys = self._keys
        if not keys.size:
            return None
        k = np.uint64(key)
        i = int(np.searchsorted(keys, k))
        if i < keys.size and keys[i] == k:
            return int(self._checks[i])
        return None

    def _merge(self) -> None:
        if not self._recent:
            return
        new_keys = np.fromiter(self._recent.keys(), np.uint64, len(self._recent))
        new_checks = np.fromiter(self._recent.values(), np.uint64, len(self._recent))
        self._recent = {}
        self._keys, self._checks = _latest(np.concatenate([self._keys, new_keys]),
                                           np.concatenate([self._checks, new_checks]))


def _latest(keys: np.ndarray, checks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with the check of each key's LAST occurrence (a stable sort keeps
    equal keys in input order, so the last of each run is the latest record)."""
    if not keys.size:
        return _EMPTY, _EMPTY
    order = np.argsort(keys, kind="stable")
    keys, checks = keys[order], checks[order]
    last = np.ones(keys.size, dtype=bool)
    last[:-1] = keys[1:] != keys[:-1]
    return np.ascontiguousarray(keys[last]), np.ascontiguousarray(checks[last])
