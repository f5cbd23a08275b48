"""Persistence of a multi-vector index: the half of :class:`~.multivector.MultiVectorIndex`
that writes and opens its folder (layout in :mod:`._segments`).

:meth:`SegmentPersistence.save` writes the pages buffered since the last save as one new
immutable segment and the deletions into the manifest (in place), or the whole index as one
segment (anywhere else, atomically); :meth:`SegmentPersistence.compact` rewrites a saved index
as one segment without deleted pages. Checksums and atomic writes are the ones every index kind
shares (:mod:`.persist`). Opening checks the manifest's segment records against its file list
(:func:`check_records`) before any file is read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import InputError
from ..late_interaction.packed import PackedPages
from ._fde import is_sidecar
from ._folder import PinnedFolder
from ._screen import SCREEN_PAIRS, is_screen_file
from ._segments import (
    CODES,
    SEGMENT_FILES,
    SEGMENT_NAME,
    Segment,
    SegmentRecord,
    check_segment_name,
    load_segment,
    write_segment_files,
)
from .errors import IndexCorruptedError
from .manifest import INT16_SCREEN_VERSION, MANIFEST_NAME, WRITTEN_VERSION, FileRecord, Manifest, locate_index
from .persist import remove_stale, write_directory, write_manifest, write_subdirectory

if TYPE_CHECKING:
    from ..late_interaction.muvera import MuveraConfig
    from ..results import EmbeddingSpace
    from ._fde import FdeSidecars
    from ._screen import ScreenCopies

__all__ = ["SegmentPersistence", "check_records"]


class SegmentPersistence:
    """Saving, compacting and opening, mixed into :class:`~.multivector.MultiVectorIndex`
    (which holds the state below and defines the members declared for type checking)."""

    if TYPE_CHECKING:
        kind: ClassVar[str]
        embedder: str
        path: Path | None
        _files: dict[str, FileRecord]
        _created: Manifest | None
        _segments: list[Segment]
        _next_segment: int
        _pending: list[np.ndarray]
        _pending_rows: list[dict[str, Any]]
        _pending_cache: Segment | None
        _dirty: bool
        _docs: dict[str, int]
        _dtype: str
        _fde: FdeSidecars
        _screen: ScreenCopies

        @property
        def space(self) -> EmbeddingSpace: ...
        @property
        def dimension(self) -> int: ...
        @property
        def pool_factor(self) -> int: ...
        @property
        def binary(self) -> bool: ...
        @property
        def screen_copies(self) -> bool: ...
        @property
        def muvera(self) -> MuveraConfig | None: ...
        def _all_segments(self) -> list[Segment]: ...
        def _segment_fde(self, seg: Segment) -> np.ndarray: ...

    def _open_saved(self, folder: PinnedFolder, manifest: Manifest, records: list[SegmentRecord], *, verify: bool) -> None:
        """Open the segments ``records`` of the index version ``folder`` holds (its manifest
        read): every file is checked and read through the folder's handle, so a save to the same
        path meanwhile cannot hand this load another version's files."""
        check_records(folder.shown(MANIFEST_NAME), records, manifest, self.binary)
        folder.open_verified(manifest, checksums=verify)
        self._next_segment = max([self._next_segment, *(int(r.name[4:]) + 1 for r in records)])
        self._segments = self._read_segments(folder, records)
        self.path, self._files, self._created = folder.path, dict(manifest.files), manifest
        self._attach(folder.path, None)
        for seg in self._segments:
            for row, alive in zip(seg.rows, seg.live):
                if alive:
                    self._docs[row["doc_id"]] = self._docs.get(row["doc_id"], 0) + 1

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the index. Saved again where it lives (``path`` omitted or the same), only what
        changed is written: new pages as one new segment, deletions in the manifest. Saved
        anywhere else, the whole index is written there as one segment, atomically."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise InputError("this index has not been saved yet: pass save(path)", input_name="path")
        if self.path is not None and target.resolve() == self.path.resolve() and (target / MANIFEST_NAME).is_file():
            self._save_changes()
        else:
            self._save_whole(target)
        return target

    def compact(self) -> None:
        """Rewrite the saved index as one segment without deleted pages.

        Crash-safe in place: the live pages are written as a new segment, then one atomic
        manifest replacement switches to it, and only then are the old segments removed (the
        folders the new manifest does not name, found by listing the index folder, never by
        names read from a manifest). A crash leaves the old index or the compacted one; what
        it leaves over is removed by the next save."""
        if self.path is None:
            raise InputError("compact() rewrites a saved index: save(path) first", input_name="path")
        if not (self.path / MANIFEST_NAME).is_file():
            self._save_whole(self.path)
            return
        packed, rows = self._live_packed()
        fde = self._live_fde() if self.muvera is not None and rows else None
        remove_stale(self.path, self._manifest(self._files), SEGMENT_NAME)
        records: list[SegmentRecord] = []
        files: dict[str, FileRecord] = {}
        if rows:
            name = self._take_segment_name()
            files = write_subdirectory(self.path, name, lambda d: self._write_segment(d, name, packed, rows, fde))
            records.append(SegmentRecord(name, len(rows), int(packed.tokens.shape[0])))
        self._created = write_manifest(self.path, self._manifest(files, records))
        self._files = dict(files)
        self._segments = self._open_segments(self.path, self._created, records)
        self._attach(self.path, [rec.name for rec in records])
        self._clear_pending()
        remove_stale(self.path, self._created, SEGMENT_NAME)

    def _save_changes(self) -> None:
        assert self.path is not None
        if not self._dirty:
            return
        files, segments = dict(self._files), list(self._segments)
        next_segment = self._next_segment
        if self._pending:
            # A save killed after writing its segment but before its manifest left that folder
            # (under the name this save is about to use): clear it first.
            remove_stale(self.path, self._manifest(self._files), SEGMENT_NAME)
            seg = self._all_segments()[-1]
            name = self._take_segment_name()
            fde = self._fde.fde(seg, saved=False) if self.muvera is not None else None
            try:
                written = write_subdirectory(self.path, name,
                                             lambda d: self._write_segment(d, name, seg.pages, seg.rows, fde))
            except BaseException:
                self._next_segment = next_segment
                raise
            record = SegmentRecord(name, len(seg.rows), int(seg.pages.tokens.shape[0]))
            files.update(written)
            segments.extend(self._open_segments(self.path, self._manifest(files, [record]), [record]))
        try:
            created = write_manifest(self.path, self._manifest(files, [s.record for s in segments]))
        except BaseException:
            # Nothing changes in memory: the pages stay pending, and the next save writes them
            # (removing the folder this one left) instead of holding them twice.
            self._next_segment = next_segment
            raise
        self._created, self._files, self._segments = created, files, segments
        self._attach(self.path, None)
        self._clear_pending()

    def _save_whole(self, target: Path) -> None:
        packed, rows = self._live_packed()
        fde = self._live_fde() if self.muvera is not None and rows else None
        records: list[SegmentRecord] = []
        if rows:
            records.append(SegmentRecord(self._take_segment_name(), len(rows), int(packed.tokens.shape[0])))

        def write(directory: Path) -> list[str]:
            if not records:
                return []
            folder = directory / records[0].name
            folder.mkdir()
            return [f"{folder.name}/{n}" for n in self._write_segment(folder, folder.name, packed, rows, fde)]

        # The manifest from the files written: their screened pairs decide its format version.
        self._created = write_directory(target, self._manifest({}, records), write,
                                        manifest_for=lambda files: self._manifest(files, records))
        self.path, self._files = target, dict(self._created.files)
        self._segments = self._open_segments(target, self._created, records)
        self._attach(target, [rec.name for rec in records])
        self._clear_pending()

    def _live_packed(self) -> tuple[PackedPages, list[dict[str, Any]]]:
        """The live pages (saved and pending) packed in order, with their rows."""
        live = [(np.asarray(seg.pages.page(int(i))), seg.rows[int(i)])
                for seg in self._all_segments() for i in np.flatnonzero(seg.live)]
        if not live:
            return PackedPages(np.zeros((0, self.dimension), self._dtype), np.zeros(1, np.int64)), []
        return PackedPages.from_list([p for p, _ in live], dtype=np.dtype(self._dtype)), [r for _, r in live]

    def _write_segment(self, folder: Path, name: str, packed: PackedPages, rows: list[dict[str, Any]],
                       fde: np.ndarray | None) -> list[str]:
        """A new segment's files, its MUVERA sidecar and its screened copy; returns their names."""
        return (write_segment_files(folder, packed, rows, self.binary)
                + (self._fde.write(folder, name, fde) if fde is not None else [])
                + (self._screen.write(folder, packed) if self.screen_copies else []))

    def _attach(self, root: Path, segments: list[str] | None) -> None:
        """Point the sidecars at the files just written; ``segments``: the ones left (compaction)."""
        self._fde.attach(root, self._files)
        self._screen.attach(root, self._files)
        if segments is not None:
            self._fde.keep_only(segments)
            self._screen.keep_only(segments)

    def _read_segments(self, folder: PinnedFolder, records: list[SegmentRecord]) -> list[Segment]:
        """The segments ``records`` from the files ``folder`` opened, with their sidecars mapped."""
        segments = [load_segment(folder, rec, self.dimension, binary=self.binary, dtype=self._dtype) for rec in records]
        names = [rec.name for rec in records]
        self._fde.map_files(folder, names)
        self._screen.map_files(folder, names)
        return segments

    def _open_segments(self, root: Path, manifest: Manifest, records: list[SegmentRecord]) -> list[Segment]:
        """Open segments this object has just written under ``root`` (``manifest`` lists their
        files), through one handle on the folder like a load (sizes checked, not checksums)."""
        if not records:
            return []
        names = {rec.name for rec in records}
        with PinnedFolder(locate_index(root)) as folder:
            folder.open_verified(manifest, checksums=False, names={f for f in manifest.files if f.split("/")[0] in names})
            return self._read_segments(folder, records)

    def _take_segment_name(self) -> str:
        name = f"seg-{self._next_segment:06d}"
        self._next_segment += 1
        return name

    def _clear_pending(self) -> None:
        self._pending, self._pending_rows, self._pending_cache = [], [], None
        self._fde.forget_unsaved()
        self._screen.forget_unsaved()
        self._dirty = False

    def _live_fde(self) -> np.ndarray:
        """The MUVERA encodings of the live pages, in page order (what compaction keeps)."""
        return np.concatenate([self._segment_fde(seg)[seg.live] for seg in self._all_segments()])

    def _manifest(self, files: dict[str, FileRecord], records: list[SegmentRecord] | None = None) -> Manifest:
        segments = [s.record for s in self._segments] if records is None else records
        config: dict[str, Any] = {"pool_factor": self.pool_factor, "binary": self.binary, "embedder": self.embedder,
                                  "screen_copies": self.screen_copies,
                                  "next_segment": self._next_segment,
                                  "segments": [r.to_dict() for r in segments]}
        if self.muvera is not None:
            config["muvera"] = self.muvera.to_dict()
        created = self._created
        count = sum(r.pages - len(r.deleted) for r in segments)
        # int16 pairs need a reader that knows them: a format earlier releases refuse by name.
        int16_files = any(f.rsplit("/", 1)[-1] in SCREEN_PAIRS["int16"] for f in files)
        return Manifest(kind=self.kind, space=self.space.id, dimension=self.dimension, count=count,
                        files=files, config=config, dtype=self._dtype, normalized=False,
                        format_version=INT16_SCREEN_VERSION if int16_files else WRITTEN_VERSION,
                        # the index keeps the time and version that first saved it
                        created_at=created.created_at if created else "", created_by=created.created_by if created else "")



def check_records(where: Path, records: list[SegmentRecord], manifest: Manifest, binary: bool) -> None:
    """The segments' records agree with each other and with the manifest's file list."""
    names = [r.name for r in records]
    for rec in records:
        check_segment_name(rec.name)
        if rec.pages < 0 or rec.tokens < rec.pages:
            raise IndexCorruptedError(f"{where}: segment {rec.name} claims {rec.pages} pages of {rec.tokens} tokens")
        if len(set(rec.deleted)) != len(rec.deleted) or any(not 0 <= d < rec.pages for d in rec.deleted):
            raise IndexCorruptedError(f"{where}: segment {rec.name} lists deleted pages outside 0..{rec.pages - 1} or twice")
    if len(set(names)) != len(names):
        raise IndexCorruptedError(f"{where}: a segment is listed twice")
    wanted = {f"{n}/{f}" for n in names for f in SEGMENT_FILES if f != CODES or binary}
    # A segment may also hold MUVERA sidecars and its screened pair (optional: built in memory when absent).
    sidecars = {f for f in manifest.files if f.count("/") == 1 and f.split("/")[0] in names
                and (is_sidecar(f.split("/")[1]) or is_screen_file(f.split("/")[1]))}
    for name in names:
        for files in SCREEN_PAIRS.values():
            pair = [f"{name}/{f}" in manifest.files for f in files]
            if any(pair) and not all(pair):
                raise IndexCorruptedError(f"{where}: segment {name} lists one of its screened files without the other")
    if set(manifest.files) - sidecars != wanted:
        missing, extra = sorted(wanted - set(manifest.files)), sorted(set(manifest.files) - wanted - sidecars)
        raise IndexCorruptedError(f"{where}: the file list does not match the segments (missing {missing}, unexpected {extra})")
    count = sum(r.pages - len(r.deleted) for r in records)
    if count != manifest.count:
        raise IndexCorruptedError(f"{where}: the segments hold {count} live pages, the manifest says {manifest.count}")
