"""A cache that fails: a read that fails is a miss with one warning and never stalls the batch;
a file that is not a cache is refused when opened, naming it; spaces of org/model names
round-trip through the cache."""

from __future__ import annotations

import os
import sqlite3
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from batch_doubles import ScriptedEmbedder

from vertex_mm.batch import CacheFileError, EmbeddingCache
from vertex_mm.cli import main
from vertex_mm.errors import CacheUnavailableWarning, InputError
from vertex_mm.results import EmbeddingSpace
from vertex_mm.testing import HashedEmbedder


def finishes(fn: Callable[[], Any], seconds: float = 20.0) -> Any:
    """``fn()`` on a daemon thread; fails the test (instead of hanging the suite) if it does not end."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out["value"] = fn()
            out["warnings"] = [w for w in caught if issubclass(w.category, CacheUnavailableWarning)]
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s: the batch hangs"
    if "error" in out:
        raise out["error"]
    return out["value"], out["warnings"]


class FlakyCache:
    """A duck-typed cache (say, on a cache server) whose reads fail as listed."""

    def __init__(self, fail: Callable[[int], bool]) -> None:
        self.data: dict[str, Any] = {}
        self.reads = 0
        self.fail = fail
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            self.reads += 1
            n = self.reads
        if self.fail(n):
            raise ConnectionError("cache server: connection reset")
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value


@pytest.mark.parametrize("failing_read", [1, 2])  # 2: the second look, inside fetch, once deadlocked
def test_a_cache_read_that_fails_is_a_miss_with_one_warning(failing_read):
    cache = FlakyCache(lambda n: n == failing_read)
    emb = ScriptedEmbedder(concurrency=3, cache=cache)
    out, warned = finishes(lambda: emb.embed_texts(["a", "b", "c"], dimension=128))
    assert out.ok.all() and emb.total_calls == 3
    assert len(warned) == 1 and "could not read (ConnectionError" in str(warned[0].message)
    assert len(cache.data) == 3  # writes still work


def test_every_read_failing_still_embeds_everything_with_one_warning():
    emb = ScriptedEmbedder(concurrency=4, cache=FlakyCache(lambda n: True))
    out, warned = finishes(lambda: emb.embed_texts([f"t{i}" for i in range(20)], dimension=128))
    assert out.ok.all() and len(warned) == 1


def test_a_slow_cache_read_does_not_hold_up_the_other_inputs():
    # The view's lock was held while the cache was read again: one read waiting on a busy
    # sqlite file (up to its 60 s timeout) stalled every worker.
    release = threading.Event()
    released: list[bool] = []
    slow_key: list[str] = []

    class SlowCache(FlakyCache):
        slow_reads = 0

        def get(self, key: str) -> Any:
            if slow_key and key == slow_key[0]:
                self.slow_reads += 1
                if self.slow_reads == 2:  # the second look, which fetch took under its lock
                    released.append(release.wait(5))
            return super().get(key)

    emb = ScriptedEmbedder(concurrency=3, cache=SlowCache(lambda n: False))
    slow_key.append(emb._cache_key(emb.build_request(contextual_text="slow", dimension=128)))
    others = [f"t{i}" for i in range(6)]
    done: list[str] = []

    def watch(key: str) -> None:  # the other inputs reach the backend while "slow" is stuck
        done.append(key)
        if set(others) <= set(done):
            release.set()

    emb.on_call = watch
    out, _ = finishes(lambda: emb.embed_texts(["slow", *others], dimension=128))
    assert out.ok.all() and released == [True]  # the others went on while "slow" waited


def test_a_damaged_sqlite_cache_is_a_miss_with_one_warning(tmp_path):
    path = tmp_path / "c.sqlite"
    warm = ScriptedEmbedder(cache=path)
    warm.embed_texts([f"warm {i}" for i in range(300)], dimension=128)
    warm.close()
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as f:  # the header is intact, so it opens; table pages are garbage
        f.seek(4096 * 2)
        f.write(os.urandom(4096 * 3))
    emb = ScriptedEmbedder(concurrency=3, cache=path)
    out, warned = finishes(lambda: emb.embed_texts([f"warm {i}" for i in range(3)] + ["new"], dimension=128))
    assert out.ok.all() and len(warned) == 1
    emb.close()


def test_an_org_model_name_round_trips_through_the_cache(tmp_path):
    # "acme/encoder-v2/8" was read as model "acme", dimension "encoder-v2": every cached row
    # failed to load, and the rerun hung in the read failure above.
    path = tmp_path / "c.sqlite"
    first = HashedEmbedder(model="acme/encoder-v2").configure_batch(cache=path)
    a = first.embed_texts(["a", "b"])
    first.close()
    again = HashedEmbedder(model="acme/encoder-v2").configure_batch(cache=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = again.embed_texts(["a", "b"])
    assert again.batch.cache.hits == 2 and b.space == a.space
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    again.close()


@pytest.mark.parametrize("space", [
    EmbeddingSpace("hashed", "acme/encoder-v2", 8),
    EmbeddingSpace("local", "org/name/sub", 512, "tag_native512"),
    EmbeddingSpace("local", "clip", 8, "x/y"),
    EmbeddingSpace("gemini", "gemini-embedding-2", 768, task="retrieval_query"),
    EmbeddingSpace("vertex", "3", 128),
])
def test_space_ids_round_trip(space):
    back = EmbeddingSpace.from_id(space.id)
    assert back == space and back.task == space.task and back.model == space.model and back.variant == space.variant


@pytest.mark.parametrize("bad", ["vertex/m", "vertex/m/x", "/m/3", "vertex/m/3;x=1"])
def test_what_is_not_a_space_id_is_refused(bad):
    with pytest.raises(ValueError, match="not an embedding space id"):
        EmbeddingSpace.from_id(bad)


def _not_a_database(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database " * 10)
    return path


def test_a_file_that_is_not_a_cache_is_refused_naming_it(tmp_path):
    path = _not_a_database(tmp_path)
    with pytest.raises(CacheFileError) as info:
        ScriptedEmbedder(cache=path)
    assert isinstance(info.value, InputError) and str(path) in str(info.value)
    assert "not an embedding cache" in str(info.value) and "Delete it" in str(info.value)
    assert path.read_text().startswith("these are my notes")  # left as it was


def test_a_folder_is_refused_as_a_cache_naming_it(tmp_path):
    folder = tmp_path / "adir.sqlite"
    folder.mkdir()
    with pytest.raises(CacheFileError, match="adir.sqlite could not be opened"):
        EmbeddingCache(folder)


def test_the_cli_says_so_in_one_line_and_exits_2(tmp_path, capsys):
    path = _not_a_database(tmp_path)
    (tmp_path / "list.txt").write_text("a.jpg\n")
    code = main(["embed", str(tmp_path / "list.txt"), "--out", str(tmp_path / "o.jsonl"), "--backend", "vertex",
                 "--api-endpoint", "http://127.0.0.1:9", "--cache", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("vertex-mm embed: embedding cache") and str(path) in err
