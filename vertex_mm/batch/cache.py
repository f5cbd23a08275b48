"""An opt-in, on-disk embedding cache: sqlite, content-addressed, safe under threads and processes.

The key is a sha256 over the input's bytes (or ``gs://`` URI), its text, the model, the
dimension and the embedding space (backend, variant, endpoint), so a re-run or a repeated
image costs nothing, and vectors of two spaces never answer for each other.

The file is a sqlite database in WAL mode: readers never block the writer, and other
processes may share the file (writes wait on a busy timeout). Connections come from a small
pool that lives as long as the cache: a thread borrows one per call and gives it back, so the
number of open files stays bounded however many thread pools the batch engine starts, and
:meth:`EmbeddingCache.close` closes them all. Entries are immutable: the first writer of a key
wins, and a second writer with the same key is by construction writing the same content.

>>> cache = EmbeddingCache("~/.cache/vertex-mm/embeddings.sqlite")
>>> emb = get_embedder("vertex", project="p", cache=cache)
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator

import numpy as np

from ..errors import InputError
from ..results import EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding

__all__ = ["CacheFileError", "EmbeddingCache"]


class CacheFileError(InputError):
    """Raised when an embedding cache file cannot be opened or is not an embedding cache (a
    damaged file, another kind of file, a folder, no permission); nothing was sent. The
    message names the file and what to do.

    Raised when the cache is opened, before a batch starts, and not turned into a warning as
    failures during a batch are (:class:`~vertex_mm.errors.CacheUnavailableWarning`): a file
    that cannot be opened never starts working, and a long job run without the cache it was
    given would pay again, on every rerun, for the vectors it was meant to keep.
    """

    @classmethod
    def for_path(cls, path: pathlib.Path, exc: sqlite3.Error) -> "CacheFileError":
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in reason or "malformed" in reason):
            return cls(f"embedding cache {path} is not an embedding cache, or is damaged ({reason})",
                       input_name=str(path), hint="Delete it (it only holds vectors that can be computed again) "
                                                  "or pass another cache file")
        if "locked" in reason or "busy" in reason:
            return cls(f"embedding cache {path} could not be opened ({reason})", input_name=str(path),
                       hint="Another process holds it; try again when it is done, or pass another cache file")
        return cls(f"embedding cache {path} could not be opened ({reason})", input_name=str(path),
                   hint="Check that it is a file you can read and write (not a folder), or pass another cache file")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    key     TEXT PRIMARY KEY,
    space   TEXT NOT NULL,
    image   BLOB,
    text    BLOB,
    video   TEXT,
    created REAL NOT NULL
)
"""
# Added with gemini-embedding-2 contents; older cache files gain the column on open.
_CONTENT_COLUMN = "ALTER TABLE embeddings ADD COLUMN content BLOB"

#: Connections kept open at most; more borrowers at once wait for one to come back.
_POOL_SIZE = 8


def _pack(vec: list[float] | None) -> bytes | None:
    return None if vec is None else np.asarray(vec, dtype=np.float32).tobytes()


def _unpack(blob: bytes | None) -> list[float] | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).tolist()


class EmbeddingCache:
    """A sqlite file mapping content keys to embedding responses.

    ``hits`` and ``misses`` count lookups in this process. Vectors are stored as float32,
    the precision the services compute in.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0, pool_size: int = _POOL_SIZE) -> None:
        self.path = pathlib.Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheFileError(f"embedding cache {self.path}: cannot create its folder ({exc.strerror or exc})",
                                 input_name=str(self.path), hint="Pass a cache path in a folder you can write") from exc
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._open: list[sqlite3.Connection] = []
        self._pool_size = max(1, int(pool_size))
        self._pid = os.getpid()
        try:
            with self._connection() as conn:
                conn.execute(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(embeddings)")}
                if "content" not in columns:
                    try:
                        conn.execute(_CONTENT_COLUMN)
                    except sqlite3.OperationalError:  # another process added it first
                        pass
        except sqlite3.Error as exc:
            self.close()
            raise CacheFileError.for_path(self.path, exc) from exc

    def _new_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across process crashes in WAL mode; a cache may lose its last
        # entries on power loss, which only costs a recomputation.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection for one call (sqlite connections are used by one thread at a
        time, and must not cross a fork: a child process starts a pool of its own)."""
        if os.getpid() != self._pid:
            self._reset_after_fork()
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._open) < self._pool_size
                if grow:
                    conn = self._new_connection()
                    self._open.append(conn)
            if not grow:
                conn = self._idle.get(timeout=self.timeout)
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def _reset_after_fork(self) -> None:
        with self._lock:
            self._idle = queue.LifoQueue()
            self._open = []  # the parent's connections belong to the parent: never touched here
            self._pid = os.getpid()

    def get(self, key: str) -> MultiModalEmbeddingResponse | None:
        """The cached response for ``key``, or None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT space, image, text, video, content FROM embeddings WHERE key = ?", (key,)
            ).fetchone()
        with self._lock:
            if row is None:
                self.misses += 1
            else:
                self.hits += 1
        if row is None:
            return None
        space, image, text, video, content = row
        videos = [VideoEmbedding(**v) for v in json.loads(video)] if video else []
        return MultiModalEmbeddingResponse(
            image_embedding=_unpack(image),
            text_embedding=_unpack(text),
            video_embeddings=videos,
            content_embedding=_unpack(content),
            space=EmbeddingSpace.from_id(space) if space else None,
        )

    def put(self, key: str, response: MultiModalEmbeddingResponse) -> None:
        """Store ``response`` under ``key``; a key already present is left as it is."""
        videos = (
            json.dumps([
                {"start_offset_sec": v.start_offset_sec, "end_offset_sec": v.end_offset_sec,
                 "embedding": np.asarray(v.embedding, dtype=np.float32).tolist()}
                for v in response.video_embeddings
            ])
            if response.video_embeddings
            else None
        )
        with self._connection() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO embeddings (key, space, image, text, video, content, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    response.space.id if response.space else "",
                    _pack(response.image_embedding),
                    _pack(response.text_embedding),
                    videos,
                    _pack(response.content_embedding),
                    time.time(),
                ),
            )

    def __contains__(self, key: object) -> bool:
        with self._connection() as conn:
            return conn.execute("SELECT 1 FROM embeddings WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def keys(self) -> Iterable[str]:
        with self._connection() as conn:
            return [k for (k,) in conn.execute("SELECT key FROM embeddings ORDER BY key")]

    @property
    def open_connections(self) -> int:
        """Connections this process holds open now (at most ``pool_size``)."""
        return len(self._open)

    def close(self) -> None:
        """Close every connection this object opened. Safe to call twice."""
        with self._lock:
            conns, self._open = self._open, []
            self._idle = queue.LifoQueue()  # a later call opens a fresh connection
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # closed from another thread already
                pass

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"
