"""What a multi-vector segment may keep beside its pages, derived from them: MUVERA encodings
(:mod:`._fde`) and the screened copy, bfloat16 or int16 (:mod:`._screen`).

Each kind is read from the segment's own files when the manifest lists them, and otherwise
built from the pages and kept in memory (a segment saved without them, or before they existed).
The pages not saved yet are built once per pending segment and dropped when they change.

The files are read lazily (at the first search that needs them) but mapped when the segment is
opened (:meth:`SegmentSidecars.map_files`), from the handles the open checked: a save by
another process can replace or remove the folder in between, and a read by name would then
find the other version's file, or none.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from ..late_interaction.packed import PackedPages
from ._folder import PinnedFolder
from ._segments import Segment
from .errors import IndexCorruptedError

__all__ = ["SegmentSidecars"]

T = TypeVar("T")


class SegmentSidecars(Generic[T]):
    """The derived data of an index's segments, by segment name. Subclasses say which file
    marks a segment that has it (:meth:`_marker`), how to read it and how to build it."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._files: frozenset[str] = frozenset()
        self._saved: dict[str, T] = {}
        self._unsaved: tuple[Segment, T] | None = None
        self._mapped: dict[str, np.ndarray] = {}  # "seg-NNNNNN/file" -> its array, mapped on open

    def attach(self, root: Path, files: Mapping[str, Any]) -> None:
        """Where the index lives and which files its manifest lists (read lazily)."""
        self._root, self._files = root, frozenset(files)
        # Segments are immutable and their names never reused by one index: a mapping of a
        # file the manifest still lists is that file.
        self._mapped = {k: v for k, v in self._mapped.items() if k in self._files}

    def map_files(self, folder: PinnedFolder, segments: list[str]) -> None:
        """Map this kind's files of ``segments`` from the handles ``folder`` opened and checked."""
        for name in folder.files:
            part, _, file = name.partition("/")
            if part in segments and self._owns(file):
                try:
                    self._mapped[name] = folder.array(name)
                except (ValueError, OSError, EOFError) as exc:
                    raise IndexCorruptedError(f"{folder.shown(name)} cannot be read: {exc}") from exc

    def _array(self, seg: Segment, file: str) -> np.ndarray:
        """The segment's file ``file``, as mapped when the segment was opened. (The index maps
        every file it opens; reading by name is only a fallback for a file listed but not mapped.)"""
        mapped = self._mapped.get(f"{seg.record.name}/{file}")
        if mapped is not None:
            return mapped
        assert self._root is not None
        path = self._root / seg.record.name / file
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)  # type: ignore[no-any-return]
        except (ValueError, OSError, EOFError) as exc:
            raise IndexCorruptedError(f"{path} cannot be read: {exc}") from exc

    def keep_only(self, segments: list[str]) -> None:
        """Forget the data of segments the index no longer has (after a compaction)."""
        self._saved = {k: v for k, v in self._saved.items() if k in segments}

    def drop(self, seg: Segment, *, saved: bool = True) -> None:
        """Forget one segment's data (read or built again on the next :meth:`get`)."""
        if not saved:
            self._unsaved = None
        else:
            self._saved.pop(seg.record.name, None)

    def forget_unsaved(self) -> None:
        self._unsaved = None

    def forget_all(self) -> None:
        self._saved.clear()
        self._unsaved = None

    def get(self, seg: Segment, *, saved: bool = True) -> T:
        """The segment's data; ``saved=False`` for the pages not yet saved (cached until they change)."""
        if not saved:
            if self._unsaved is None or self._unsaved[0] is not seg:
                self._unsaved = (seg, self._build(seg.pages))
            return self._unsaved[1]
        name = seg.record.name
        if name not in self._saved:
            self._saved[name] = self._read(seg) if self._on_disk(name) else self._build(seg.pages)
        return self._saved[name]

    def _on_disk(self, name: str) -> bool:
        """Whether segment ``name`` holds this kind's files, to read instead of building them."""
        return self._root is not None and f"{name}/{self._marker()}" in self._files

    def _marker(self) -> str:
        raise NotImplementedError

    def _owns(self, file: str) -> bool:
        """Whether a segment's file named ``file`` is one of this kind's."""
        raise NotImplementedError

    def _read(self, seg: Segment) -> T:
        raise NotImplementedError

    def _build(self, pages: PackedPages) -> T:
        raise NotImplementedError
