"""What a multi-vector segment may keep beside its pages, derived from them: MUVERA encodings
(:mod:`._fde`) and the screened copy, bfloat16 or int16 (:mod:`._screen`).

Each kind is read from the segment's own files when the manifest lists them, and otherwise
built from the pages and kept in memory (a segment saved without them, or before they existed).
The pages not saved yet are built once per pending segment and dropped when they change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..late_interaction.packed import PackedPages
from ._segments import Segment

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

    def attach(self, root: Path, files: Mapping[str, Any]) -> None:
        """Where the index lives and which files its manifest lists (read lazily)."""
        self._root, self._files = root, frozenset(files)

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
            on_disk = self._root is not None and f"{name}/{self._marker()}" in self._files
            self._saved[name] = self._read(seg) if on_disk else self._build(seg.pages)
        return self._saved[name]

    def _marker(self) -> str:
        raise NotImplementedError

    def _read(self, seg: Segment) -> T:
        raise NotImplementedError

    def _build(self, pages: PackedPages) -> T:
        raise NotImplementedError
