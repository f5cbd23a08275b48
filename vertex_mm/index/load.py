"""Open any saved index by the ``kind`` its manifest records.

>>> load_index("photos.idx")     # FlatIndex or FaissIndex          # doctest: +SKIP
>>> load_index("pages.idx")      # MultiVectorIndex, or the OCR-assisted page retriever

Vector kinds (``flat``, ``faiss``) and ``multivector`` live in this package. Kinds that the
local backend saves (``ocr-fused``) are opened through :func:`vertex_mm.registry.index_loader`,
which imports their module lazily: ``vertex_mm`` never imports ``local_backend`` itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .base import BACKENDS, BaseIndex
from .errors import IndexKindError
from .manifest import MANIFEST_NAME, Manifest, locate_index
from .multivector import MultiVectorIndex

__all__ = ["index_kind", "load_index"]


def load_index(path: str | os.PathLike[str], *, verify: bool = True, mmap: bool = True) -> Any:
    """Open the index saved at ``path``, whatever its kind.

    Returns a :class:`~vertex_mm.index.BaseIndex` (flat, FAISS), a
    :class:`~vertex_mm.index.MultiVectorIndex`, or the object a registered kind's loader
    builds (the OCR-assisted page retriever for ``ocr-fused``). ``verify`` checks every file's
    SHA-256; ``mmap`` memory-maps a vector index's rows. Raises
    :class:`~vertex_mm.index.IndexCorruptedError` for a damaged index and
    :class:`~vertex_mm.index.IndexKindError` for a kind nothing can open.
    """
    # locate_index: where a save without an atomic exchange was cut short, the complete
    # version beside the path; the index still calls itself by ``path`` and saves back there.
    root = locate_index(Path(path))
    manifest = Manifest.read(root)
    if manifest.kind in BACKENDS or manifest.kind == MultiVectorIndex.kind:
        index: BaseIndex | MultiVectorIndex
        # load() reads the manifest again with the files: one version, if a save came since.
        if manifest.kind in BACKENDS:
            index = BaseIndex.load(Path(path), verify=verify, mmap=mmap)
        else:
            index = MultiVectorIndex.load(Path(path), verify=verify)
        index.path = Path(path)
        return index
    from ..registry import index_loader

    loader = index_loader(manifest.kind)
    if loader is None:
        raise IndexKindError(f"{root} holds an index of unknown kind {manifest.kind!r} (this vertex-mm opens "
                             f"{', '.join([*BACKENDS, MultiVectorIndex.kind])} and the kinds its local backend saves)")
    return loader(Path(path), verify=verify)


def index_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of the index saved at ``path``; None when nothing is there yet (a missing or
    empty folder). Raises for a folder that holds something else."""
    root = locate_index(Path(path))
    if not root.exists() or (root.is_dir() and not any(root.iterdir()) and not (root / MANIFEST_NAME).exists()):
        return None
    return Manifest.read(root).kind
