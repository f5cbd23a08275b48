"""The index interface: add / upsert / delete by id, filtered top-k search, save / load.

:class:`BaseIndex` owns everything backends share (the rows, the checks at the door, filters,
persistence); a backend supplies only its search over rows, plus hooks to keep an ANN
structure in step. Spaces never mix: every insert and query must be
:class:`~vertex_mm.results.Embeddings` of the index's own :class:`EmbeddingSpace`.

>>> index = FlatIndex(embedder.space(512))
>>> index.add(["a", "b"], embedder.embed_images(["a.jpg", "b.jpg"], dimension=512))
>>> index.search(embedder.embed_texts(["a cat"], dimension=512), k=5)[0]
[Hit(id='a', score=0.3120), Hit(id='b', score=0.1012)]
"""

from __future__ import annotations

import abc
import importlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..results import Embeddings, EmbeddingSpace
from ._config import IndexConfig
from ._folder import PinnedFolder, read_pinned
from ._row_files import ITEMS_NAME, VECTORS_NAME, read_rows, write_rows
from ._store import RowStore
from .errors import DuplicateIdError, IndexCorruptedError, IndexKindError, InvalidIndexArgumentError, UnknownIdError
from .filters import Filter
from .manifest import MANIFEST_NAME, Manifest
from .persist import write_directory
from .results import Hit, SearchResults
from .vectors import check_ids, check_metadata, check_vectors, row_problems

__all__ = ["BACKENDS", "BaseIndex", "IndexConfig"]

T = TypeVar("T", bound="BaseIndex")
#: Metadata of the rows of one call: one JSON-serialisable mapping (or None) per id.
MetadataRows = Sequence[Mapping[str, Any] | None] | None

# kind -> "module:class" of the vector indexes, imported on first use (faiss is optional).
BACKENDS: dict[str, str] = {
    "flat": "vertex_mm.index.flat:FlatIndex",
    "faiss": "vertex_mm.index.faiss_index:FaissIndex",
}


#: Past this, a k beyond the index's rows is refused rather than padded (256 MiB of scores).
_MAX_PADDING_BYTES = 1 << 28

class BaseIndex(abc.ABC):
    """A vector index over one embedding space. Thread-safe: writes and searches take a lock."""

    #: The manifest's ``kind``: ``"flat"`` or ``"faiss"``.
    kind: ClassVar[str] = "base"
    #: Whether ``upsert`` may overwrite a row in place. ANN structures that cannot update a
    #: vector instead tombstone the old row and append a new one.
    update_in_place: ClassVar[bool] = True

    def __init__(self, config: IndexConfig | EmbeddingSpace) -> None:
        self.config = config if isinstance(config, IndexConfig) else IndexConfig(space=config)
        self._store = RowStore(self.space.dimension)
        self._lock = threading.RLock()
        self._mask_cache: dict[str, tuple[int, np.ndarray]] = {}
        self.path: Path | None = None

    # -- what it holds -------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The same as :attr:`kind` (the name the search page shows)."""
        return self.kind

    @property
    def space(self) -> EmbeddingSpace:
        return self.config.space

    @property
    def dimension(self) -> int:
        return self.config.space.dimension

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, id_: object) -> bool:
        return isinstance(id_, str) and self._store.row_of(id_) is not None

    @property
    def ids(self) -> list[str]:
        return self._store.live_ids()

    def metadata(self, id_: str) -> dict[str, Any]:
        """A copy of the row's metadata: changing it leaves the index as it was."""
        with self._lock:
            return _copied(self._store.metadata_at(self._require_row(id_)))

    def vector(self, id_: str) -> Embeddings:
        """The stored (normalised) vector of one id, as a 1-row Embeddings."""
        with self._lock:  # a save renumbers rows: look up and read one version
            row = self._require_row(id_)
            return Embeddings(np.array(self._store.vectors[row : row + 1]), self.space)

    def iter_rows(self, batch_size: int = 4096) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
        """``(ids, vectors, metadata)`` of the live rows in row order, ``batch_size`` at a time
        (vectors are normalised float32; metadata copies; for exports and migrations).

        The rows are those live when iteration starts, each read as it is when its batch is
        taken: writes and saves meanwhile (which renumber rows) neither skip nor repeat a row.
        A row deleted meanwhile is left out; one added meanwhile is not included."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidIndexArgumentError(f"batch_size must be a positive integer, got {batch_size!r}",
                                            input_name="batch_size")
        with self._lock:
            ids = self._store.live_ids()
        for start in range(0, len(ids), batch_size):
            with self._lock:
                store = self._store
                found = [(i, r) for i in ids[start : start + batch_size] if (r := store.row_of(i)) is not None]
                if not found:
                    continue
                rows = [r for _, r in found]
                batch = ([i for i, _ in found], np.array(store.vectors[rows]), [_copied(store.metadata_at(r)) for r in rows])
            yield batch

    # -- writes --------------------------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: Embeddings, metadata: MetadataRows = None, *,
            skip_failed: bool = False) -> dict[str, str]:
        """Insert new rows. An id already stored raises :class:`DuplicateIdError` (use
        :meth:`upsert` to replace). Rows whose embedding failed (NaN, ``errors[i]``) raise
        :class:`InvalidVectorError` and nothing is added, unless ``skip_failed``: then the good
        rows go in and the skipped ids are returned with the reason."""
        with self._lock:
            ids, vecs, metas, skipped = self._prepare(ids, vectors, metadata, skip_failed)
            taken = [i for i in ids if self._store.row_of(i) is not None]
            if taken:
                raise DuplicateIdError(f"{len(taken)} ids are already in the index (first: {taken[0]!r}); "
                                       "use upsert() to replace them", input_name=taken[0])
            self._append(ids, vecs, metas)
            return skipped

    def upsert(self, ids: Sequence[str], vectors: Embeddings, metadata: MetadataRows = None, *,
               skip_failed: bool = False) -> dict[str, str]:
        """Insert or replace rows by id (vector and metadata both replaced)."""
        with self._lock:
            ids, vecs, metas, skipped = self._prepare(ids, vectors, metadata, skip_failed)
            existing = [(j, self._store.row_of(i)) for j, i in enumerate(ids)]
            old = [(j, r) for j, r in existing if r is not None]
            if old and self.update_in_place:
                for j, r in old:
                    self._store.overwrite(r, vecs[j], metas[j])
                self._on_overwrite([r for _, r in old], vecs[[j for j, _ in old]])
                new = [j for j, r in existing if r is None]
            else:
                self._delete_rows([r for _, r in old])
                new = list(range(len(ids)))
            if new:
                self._append([ids[j] for j in new], vecs[new], [metas[j] for j in new])
            return skipped

    def set_metadata(self, ids: Sequence[str], metadata: MetadataRows) -> None:
        """Replace the metadata of stored rows, keeping their vectors (no embedding needed for
        a photo that only moved). Unknown ids raise :class:`UnknownIdError` (nothing changed)."""
        with self._lock:
            ids = check_ids(ids)
            metas = check_metadata(metadata, ids)
            rows = [self._store.row_of(i) for i in ids]
            missing = [i for i, r in zip(ids, rows) if r is None]
            if missing:
                raise UnknownIdError(f"{len(missing)} ids are not in the index (first: {missing[0]!r})")
            for r, m in zip(rows, metas):
                self._store.overwrite_metadata(r, m)  # type: ignore[arg-type]

    def delete(self, ids: Sequence[str], *, missing_ok: bool = False) -> int:
        """Remove rows by id; returns how many were removed. Unknown ids raise
        :class:`UnknownIdError` (nothing removed) unless ``missing_ok``."""
        with self._lock:
            ids = check_ids(ids)
            rows = [self._store.row_of(i) for i in ids]
            missing = [i for i, r in zip(ids, rows) if r is None]
            if missing and not missing_ok:
                raise UnknownIdError(f"{len(missing)} ids are not in the index (first: {missing[0]!r})")
            found = sorted({r for r in rows if r is not None})
            self._delete_rows(found)
            return len(found)

    # -- search --------------------------------------------------------------------------------
    def search(
        self,
        queries: Embeddings,
        k: int = 10,
        *,
        filter: Filter | Mapping[str, Any] | None = None,
    ) -> SearchResults:
        """The ``k`` nearest rows to each query by cosine similarity, best first.

        ``queries`` is an (n, dimension) :class:`Embeddings` of this index's space (a text
        query from ``embed_texts``, an image query from ``embed_images``). ``filter`` keeps only
        rows whose metadata passes it (a plain dict means equalities).
        """
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InvalidIndexArgumentError(f"k must be a positive integer, got {k!r}", input_name="k")
        k = int(k)
        q = check_vectors(queries, self.space, what="queries")
        flt = Filter.coerce(filter)
        # scores is (queries, k) whatever the index holds: a k far beyond its rows would allocate
        # for nothing (k=10**12: a 3.6 TiB MemoryError traceback).
        if k > len(self._store) and len(q) * k * 4 > _MAX_PADDING_BYTES:
            raise InvalidIndexArgumentError(
                f"k={k:,} is more than the {len(self._store):,} rows of the index, and the (queries, k) score matrix "
                f"would take {len(q) * k * 4 / 2**30:,.1f} GiB; pass k <= {max(len(self._store), 1):,}", input_name="k")
        with self._lock:
            allowed = self._allowed(flt)
            n_allowed = len(self._store) if allowed is None else int(allowed.sum())
            k_eff = min(k, n_allowed)
            if k_eff == 0:
                scores = np.full((len(q), k), -np.inf, dtype=np.float32)
                return SearchResults([[] for _ in range(len(q))], scores)
            scores, rows = self._search_rows(q, k_eff, allowed)
            return self._results(scores, rows, k)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the index as one directory (atomically: a crash leaves the old one whole).
        Deleted rows are dropped; row order is kept."""
        path = Path(os.path.abspath(path))  # "." would be another folder once the working directory changes
        with self._lock:
            moved = self._store.compact()
            if moved is not None:
                self._on_compact(moved)
            write_directory(path, self._manifest_base(), lambda tmp: write_rows(tmp, self._store) + self._save_extra(tmp))
            self.path = path
        return path

    @classmethod
    def load(cls: type[T], path: str | Path, *, verify: bool = True, mmap: bool = True) -> T:
        """Open a saved flat or FAISS index. ``BaseIndex.load`` picks the kind the manifest
        names; ``FlatIndex.load`` of a FAISS index gives exact search over its vectors. Another
        kind of index (multi-vector pages, OCR-assisted) raises :class:`IndexKindError`;
        :func:`vertex_mm.index.load_index` opens every kind.

        ``verify`` checks every file's SHA-256 (sizes and shapes are always checked);
        ``mmap`` maps the vectors instead of reading them (pages load as searches touch them).
        A save to the same path while this loads leaves it the old index or the new one whole.
        """
        index = read_pinned(Path(path), lambda folder: cls._read(folder, folder.read_manifest(), verify=verify, mmap=mmap))
        index.path = Path(path)
        return index

    @classmethod
    def from_manifest(cls: type[T], path: Path, manifest: Manifest, *, verify: bool = True, mmap: bool = True) -> T:
        """:meth:`load` with the manifest already read. The files are those at ``path`` now: a
        save there since the manifest was read makes them disagree with it (as damage would);
        :meth:`load` reads the manifest and the files of one version."""
        with PinnedFolder(path) as folder:
            return cls._read(folder, manifest, verify=verify, mmap=mmap)

    @classmethod
    def _read(cls: type[T], folder: PinnedFolder, manifest: Manifest, *, verify: bool, mmap: bool) -> T:
        path = folder.path
        if manifest.kind not in BACKENDS:
            raise IndexKindError(f"{path} holds a {manifest.kind!r} index, not a vector index ({', '.join(BACKENDS)})")
        missing = [name for name in (VECTORS_NAME, ITEMS_NAME) if name not in manifest.files]
        if missing:  # a file the manifest does not list would load unverified
            raise IndexCorruptedError(f"{path / MANIFEST_NAME}: does not list {', '.join(missing)}, which every vector "
                                      "index has; the manifest was damaged or edited")
        folder.open_verified(manifest, checksums=verify)
        try:
            space = EmbeddingSpace.from_id(manifest.space)
        except ValueError as exc:
            raise IndexCorruptedError(f"{path}: {exc}") from exc
        if space.dimension != manifest.dimension:
            raise IndexCorruptedError(f"{path}: space {space.id} disagrees with dimension {manifest.dimension}")
        vectors, ids, metas = read_rows(folder, manifest, mmap=mmap)
        impl: type[BaseIndex] = _backend_class(manifest.kind) if cls is BaseIndex else cls
        try:
            config = IndexConfig.from_options(space, manifest.config)
        except (TypeError, ValueError) as exc:  # settings a save never writes
            raise IndexCorruptedError(f"{path / MANIFEST_NAME}: index settings are mangled ({exc})") from exc
        index = impl(config)
        index._store = RowStore(space.dimension, vectors, ids, metas)
        index.path = path
        index._after_load(folder, manifest)
        return index  # type: ignore[return-value]

    # -- backend hooks -------------------------------------------------------------------------
    @abc.abstractmethod
    def _search_rows(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, row numbers), (q, k) each, best first; ``allowed`` masks rows
        (deleted rows and filtered-out rows are False). ``k`` <= allowed rows."""

    def _on_append(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Rows were appended (an ANN structure adds them)."""

    def _on_overwrite(self, rows: list[int], vectors: np.ndarray) -> None:
        """Rows were replaced in place (only when ``update_in_place``)."""

    def _on_compact(self, old_rows: np.ndarray) -> None:
        """Tombstones were dropped; new row i was ``old_rows[i]``."""

    def _save_extra(self, directory: Path) -> list[str]:
        """Write backend files into ``directory``; return their names for the manifest."""
        return []

    def _after_load(self, folder: PinnedFolder, manifest: Manifest) -> None:
        """Rebuild or read the backend's structure after the rows were loaded (from the files
        ``folder`` opened and verified)."""

    # -- helpers -------------------------------------------------------------------------------
    def _prepare(self, ids: Sequence[str], vectors: Embeddings, metadata: Any, skip_failed: bool
                 ) -> tuple[list[str], np.ndarray, list[dict[str, Any] | None], dict[str, str]]:
        ids = check_ids(ids)
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DuplicateIdError(f"id {dup!r} appears more than once in one call", input_name=dup)
        n = getattr(vectors, "shape", (None,))[0]
        if n != len(ids):
            raise InvalidIndexArgumentError(f"{len(ids)} ids but {n} vectors", input_name="vectors")
        metas = check_metadata(metadata, ids)
        skipped: dict[str, str] = {}
        if skip_failed and isinstance(vectors, Embeddings):
            bad = row_problems(np.asarray(vectors), vectors.errors)
            if bad:
                skipped = {ids[i]: why for i, why in bad.items()}
                keep = [i for i in range(len(ids)) if i not in bad]
                vectors = vectors[keep] if keep else vectors[:0]
                ids = [ids[i] for i in keep]
                metas = [metas[i] for i in keep]
        vecs = check_vectors(vectors, self.space, what="vectors", labels=[f"id {i!r}" for i in ids])
        return ids, vecs, metas, skipped

    def _append(self, ids: list[str], vecs: np.ndarray, metas: list[dict[str, Any] | None]) -> None:
        if ids:
            rows = self._store.append(ids, vecs, metas)
            self._on_append(rows, vecs)

    def _delete_rows(self, rows: list[int]) -> None:
        self._store.tombstone(rows)

    def _require_row(self, id_: str) -> int:
        row = self._store.row_of(id_)
        if row is None:
            raise UnknownIdError(f"id {id_!r} is not in the index")
        return row

    def _allowed(self, flt: Filter | None) -> np.ndarray | None:
        alive = self._store.alive
        if flt is None or flt.empty:
            return alive
        key = flt.key()
        cached = self._mask_cache.get(key)
        if cached is None or cached[0] != self._store.version:
            mask = flt.mask(self._store.live_metadata())
            if alive is not None:
                mask &= alive
            if len(self._mask_cache) > 64:
                self._mask_cache.clear()
            self._mask_cache[key] = cached = (self._store.version, mask)
        return cached[1]

    def _results(self, scores: np.ndarray, rows: np.ndarray, k: int) -> SearchResults:
        hits = [
            [Hit(self._store.id_at(r), float(s), MappingProxyType(_copied(self._store.metadata_at(r))))
             for s, r in zip(srow, rrow) if r >= 0]
            for srow, rrow in zip(scores.tolist(), rows.tolist())
        ]
        padded = np.full((scores.shape[0], k), -np.inf, dtype=np.float32)
        padded[:, : scores.shape[1]] = np.where(rows >= 0, scores, -np.inf)
        return SearchResults(hits, padded)

    def _manifest_base(self) -> Manifest:
        return Manifest(kind=self.kind, space=self.space.id, dimension=self.dimension,
                        count=len(self._store), files={}, config=self.config.options())

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path else ""
        return f"{type(self).__name__}(space={self.space.id!r}, count={len(self)}{where})"


def _copied(metadata: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of stored (JSON) metadata: what the index hands out is the caller's to
    change, and a change must neither reach the index nor stale its filter cache."""
    return {k: _copy(v) for k, v in metadata.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _backend_class(name: str) -> type[BaseIndex]:
    target = BACKENDS.get(name)
    if target is None:
        raise IndexKindError(f"unknown vector index kind {name!r} (known: {', '.join(BACKENDS)})")
    module, _, attr = target.partition(":")
    index_class: type[BaseIndex] = getattr(importlib.import_module(module), attr)
    return index_class
