"""An opt-in, on-disk embedding cache: sqlite, content-addressed, safe under threads and processes.

The key is a sha256 over the input's bytes (or ``gs://`` URI), its text, the model, the
dimension and the embedding space (backend, variant, endpoint), so a re-run or a repeated
image costs nothing, and vectors of two spaces never answer for each other.

The file is a sqlite database in WAL mode: readers never block the writer, each thread
gets its own connection, and other processes may share the file (writes wait on a busy
timeout). Entries are immutable: the first writer of a key wins, and a second writer with
the same key is by construction writing the same content.

>>> cache = EmbeddingCache("~/.cache/vertex-mm/embeddings.sqlite")
>>> emb = get_embedder("vertex", project="p", cache=cache)
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import threading
import time
from collections.abc import Iterable

import numpy as np

from ..results import EmbeddingSpace, MultiModalEmbeddingResponse, VideoEmbedding

__all__ = ["EmbeddingCache"]

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


def _pack(vec: list[float] | None) -> bytes | None:
    return None if vec is None else np.asarray(vec, dtype=np.float32).tobytes()


def _unpack(blob: bytes | None) -> list[float] | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).tolist()


class EmbeddingCache:
    """A sqlite file mapping content keys to embedding responses.

    ``hits`` and ``misses`` count lookups in this process. Vectors are stored as float32,
    the precision the services compute in.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0) -> None:
        self.path = pathlib.Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        with self._conn() as conn:
            conn.execute(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread and per process: sqlite connections must not cross a fork.
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across process crashes in WAL mode; a cache may lose its last
        # entries on power loss, which only costs a recomputation.
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._connections.append(conn)
        return conn

    def get(self, key: str) -> MultiModalEmbeddingResponse | None:
        """The cached response for ``key``, or None."""
        row = self._conn().execute(
            "SELECT space, image, text, video FROM embeddings WHERE key = ?", (key,)
        ).fetchone()
        with self._lock:
            if row is None:
                self.misses += 1
            else:
                self.hits += 1
        if row is None:
            return None
        space, image, text, video = row
        videos = [VideoEmbedding(**v) for v in json.loads(video)] if video else []
        return MultiModalEmbeddingResponse(
            image_embedding=_unpack(image),
            text_embedding=_unpack(text),
            video_embeddings=videos,
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
        self._conn().execute(
            "INSERT OR IGNORE INTO embeddings (key, space, image, text, video, created) VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                response.space.id if response.space else "",
                _pack(response.image_embedding),
                _pack(response.text_embedding),
                videos,
                time.time(),
            ),
        )

    def __contains__(self, key: object) -> bool:
        return self._conn().execute("SELECT 1 FROM embeddings WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def keys(self) -> Iterable[str]:
        return [k for (k,) in self._conn().execute("SELECT key FROM embeddings ORDER BY key")]

    def close(self) -> None:
        """Close every connection this object opened. Safe to call twice."""
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:  # closed from another thread already
                pass
        self._local = threading.local()

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"
