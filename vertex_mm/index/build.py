"""From a folder of photos to a searchable index, and from a query to its vector.

Shared by ``vertex-mm index`` / ``search`` / ``serve`` and ``examples/text_to_image_search.py``,
so the command line, the web page and the example answer a query the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import BatchError, EmbeddingSpaceMismatchError, InputError
from ..limits import IMAGE_SUFFIXES  # the one suffix table; re-exported for callers of this module
from ..results import Embeddings, EmbeddingSpace
from .base import BaseIndex
from .filters import Filter
from .manifest import file_record
from .results import SearchResults

__all__ = [
    "IMAGE_SUFFIXES",
    "PHOTO_KEYS",
    "embed_query",
    "embedder_for_index",
    "find_images",
    "index_images",
    "photo_metadata",
    "photo_sha256",
    "search_index",
]

_CHUNK = 256  # images embedded and added per step, so a large folder never sits in memory twice
#: The metadata keys :func:`photo_metadata` writes; any other key of a photo's row is the user's.
PHOTO_KEYS = ("path", "name", "folder", "size", "mtime_ns", "sha256")


def find_images(folder: str | os.PathLike[str], *, recursive: bool = True,
                suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files under ``folder`` (by ``suffixes``, a model's own from
    :func:`vertex_mm.jobs.image_extensions_for`; hidden files and folders skipped), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder of images")
    pattern = "**/*" if recursive else "*"
    found = [
        p for p in root.glob(pattern)
        if p.is_file() and p.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


def index_images(
    embedder: Any,
    paths: Sequence[Path],
    *,
    root: Path | None = None,
    dimension: int | None = None,
    backend: str = "flat",
    index: BaseIndex | None = None,
    progress: bool = False,
    keep: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[BaseIndex, dict[str, str]]:
    """Embed ``paths`` and upsert them into ``index`` (a new one of ``backend`` if None).

    Ids are paths relative to ``root`` (default: their common folder); metadata is
    :func:`photo_metadata`, over ``keep[id]`` where given (keys a photo embedded again keeps
    from its old row: tags, captions). Images that fail to embed are skipped and
    returned as ``{id: reason}``; every other image is indexed.
    """
    from . import create_index

    # Absolute, with symbolic links kept: a photo linked from outside the folder keeps its
    # name in the folder as its id (resolved, it became the target's absolute path).
    paths = [Path(os.path.abspath(p)) for p in paths]
    root = Path(os.path.abspath(root or _common_folder(paths)))
    space = embedder.space(dimension)
    if index is None:
        index = create_index(space, backend)
    skipped: dict[str, str] = {}
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        ids = [_relative_id(p, root) for p in chunk]
        # Stat and hash before the embedder reads: a change after either shows at the next update.
        metas = [{**(keep or {}).get(i, {}), **photo_metadata(p, i, content=True)} for p, i in zip(chunk, ids)]
        vecs = embedder.embed_images([str(p) for p in chunk], dimension=space.dimension,
                                     progress=progress, errors="collect")
        skipped.update(index.upsert(ids, vecs, metas, skip_failed=True))
    return index, skipped


def photo_metadata(path: Path, id_: str, stat: os.stat_result | None = None, *, content: bool = False) -> dict[str, Any]:
    """What the index stores with a photo: where it is (``path`` absolute, ``name``, ``folder``
    of its id) and, so that an update can tell a changed file, its ``size`` in bytes and
    ``mtime_ns`` (the file's stat when it was embedded); with ``content``, also the
    ``sha256`` of its bytes, which tells an update whether a photo whose time alone changed
    (touched, copied without its times, a rating rewritten in place) needs a new vector."""
    meta: dict[str, Any] = {"path": str(path), "name": path.name, "folder": Path(id_).parent.as_posix()}
    try:
        st = stat or path.stat()
    except OSError:  # gone or unreadable: embedding it fails and says why
        return meta
    meta.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
    if content:
        digest = photo_sha256(path)
        if digest is not None:
            meta["sha256"] = digest
    return meta


def photo_sha256(path: Path) -> str | None:
    """The SHA-256 of the photo's bytes (the whole file: an edit can change a few bytes of the
    middle of a same-sized file, which a sample could miss); None when it cannot be read."""
    try:
        return file_record(path).sha256
    except OSError:
        return None


def embedder_for_index(index: BaseIndex, backend: str | None = None, **options: Any) -> Any:
    """An embedder that writes into ``index``'s space: by default the backend the index was
    built with (its space id says which). Raises :class:`EmbeddingSpaceMismatchError` when the
    embedder cannot, rather than answering queries from another space; the model is compared
    before the dimension, so a backend of another model is named as such, not as a bad size."""
    from ..registry import get_embedder

    name = backend or index.space.backend
    embedder = get_embedder(name, **options)
    try:
        got = _writes_to(embedder, index.space)
        if got != index.space:
            raise EmbeddingSpaceMismatchError(
                f"backend {name!r} embeds into {_describe(got)} but the index holds "
                f"{index.space.id!r}; query with the model that built the index, or rebuild the index")
    except BaseException:
        embedder.close()
        raise
    return embedder


def _writes_to(embedder: Any, space: EmbeddingSpace) -> EmbeddingSpace | str:
    """The space ``embedder``'s queries for an index of ``space`` land in (the way
    :func:`embed_query` embeds them), or ``backend/model at any dimension`` when it is another
    model, whatever the dimension."""
    if (embedder.backend, embedder.model) != (space.backend, space.model):
        try:
            return _query_space(embedder, space)
        except InputError:  # this model cannot even make vectors of that size
            return f"{embedder.backend}/{embedder.model}"
    return _query_space(embedder, space)


def _describe(space: EmbeddingSpace | str) -> str:
    return f"{space.id!r}" if isinstance(space, EmbeddingSpace) else f"{space!r} (at other dimensions)"


def _query_space(embedder: Any, space: EmbeddingSpace) -> EmbeddingSpace:
    if _embeds_as_content(embedder, space):
        return embedder.content_space(space.dimension)  # type: ignore[no-any-return]
    return embedder.space(space.dimension)  # type: ignore[no-any-return]


def _embeds_as_content(embedder: Any, space: EmbeddingSpace) -> bool:
    """Whether queries of an index of ``space`` are contents (gemini-embedding-2's path): the
    index records a task, or its dimension is one only the embedder's content path makes (a
    local `vertex-mm migrate` index at 3072, say)."""
    limits = getattr(embedder, "content_limits", None)
    if limits is None:
        return False
    return bool(space.task) or (not embedder.limits.allows_dimension(space.dimension)
                                and limits.allows_dimension(space.dimension))


#: The task a query takes against documents embedded for a task: retrieval and QA documents are
#: met by the query side of their pair; symmetric tasks (similarity, clustering...) by themselves.
_QUERY_TASKS = {"retrieval_document": "retrieval_query"}


def embed_query(embedder: Any, space: EmbeddingSpace, *, text: str | None = None,
                image: str | os.PathLike[str] | bytes | None = None) -> Embeddings:
    """One text or image query as a 1-row Embeddings of ``space``. A query that fails raises its
    own typed error (not a :class:`BatchError` of one input)."""
    if (text is None) == (image is None):
        raise ValueError("give exactly one of text or image")
    try:
        return _embed_one(embedder, space, text, image)
    except BatchError as exc:
        if len(exc.errors) == 1:
            raise next(iter(exc.errors.values())) from None
        raise


def _embed_one(embedder: Any, space: EmbeddingSpace, text: str | None,
               image: str | os.PathLike[str] | bytes | None) -> Embeddings:
    vectors: Embeddings
    if _embeds_as_content(embedder, space):
        # An index of contents (gemini-embedding-2, or `vertex-mm migrate`): a query is a
        # content too, in the query form of the index's task when it records one.
        query: Any = text
        if image is not None:
            query = image if isinstance(image, bytes) else Path(os.fspath(image))
        task: str | None = _QUERY_TASKS.get(space.task, space.task) or None
        if task and task.startswith("custom-"):
            task = "retrieval_query"  # the index's own instruction is not recoverable from its digest
        vectors = embedder.embed_contents([query], dimension=space.dimension, task=task)
    elif text is not None:
        vectors = embedder.embed_texts([text], dimension=space.dimension)
    else:
        vectors = embedder.embed_images([image if isinstance(image, bytes) else str(image)], dimension=space.dimension)
    return vectors


def search_index(index: BaseIndex, embedder: Any, queries: Iterable[tuple[str | None, Any]], *, k: int = 10,
                 filter: Filter | None = None) -> SearchResults:
    """Search many ``(text, image)`` queries (one of each pair set) in one batched call."""
    vecs = [embed_query(embedder, index.space, text=t, image=i) for t, i in queries]
    if not vecs:
        raise ValueError("no queries")
    import numpy as np

    stacked = Embeddings(np.concatenate([np.asarray(v) for v in vecs]), index.space)
    return index.search(stacked, k=k, filter=filter)


def _common_folder(paths: Sequence[Path]) -> Path:
    if not paths:
        return Path.cwd()
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def _relative_id(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
