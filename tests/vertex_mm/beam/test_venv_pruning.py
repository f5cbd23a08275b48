"""The cached Beam venvs do not pile up: each is about 2.5 GB and keyed by the declared
dependencies, so every dependency change used to leave one behind for good."""

from __future__ import annotations

import fcntl
import os

from vmm_beam_venv import _prune_siblings


def _venv(root, name, used_at):
    venv = root / name
    (venv / "bin").mkdir(parents=True)
    log = venv.with_suffix(".log")
    log.write_text("$ pip install ...\n")
    os.utime(log, (used_at, used_at))
    return venv


def test_a_new_venv_keeps_the_two_most_recently_used_others_and_removes_the_rest(tmp_path):
    new = _venv(tmp_path, "beam-new", 5000)
    kept = [_venv(tmp_path, "beam-recent1", 4000), _venv(tmp_path, "beam-recent2", 3000)]
    stale = [_venv(tmp_path, "beam-old1", 2000), _venv(tmp_path, "beam-old2", 1000)]
    removed = _prune_siblings(new)
    assert sorted(removed) == sorted(stale)
    assert new.is_dir() and all(v.is_dir() for v in kept)
    assert not any(v.exists() or v.with_suffix(".log").exists() for v in stale)


def test_a_venv_in_use_is_not_removed(tmp_path):
    new = _venv(tmp_path, "beam-new", 5000)
    _venv(tmp_path, "beam-a", 4000), _venv(tmp_path, "beam-b", 3000)
    busy = _venv(tmp_path, "beam-busy", 1000)
    with open(busy.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run is using it
        assert _prune_siblings(new) == []
    assert busy.is_dir()
