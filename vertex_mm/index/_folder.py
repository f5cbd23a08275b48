"""Reading one saved version of an index folder, whole, while another process may save over it.

A save (:func:`vertex_mm.index.persist.write_directory`) builds the new version in a sibling
folder, swaps the two folders' names, and removes the old one. A reader that opened
``path/manifest.json`` and later ``path/items.jsonl`` by name could get one file of each
version. So :class:`PinnedFolder` opens the folder once and every file relative to that handle
(``openat``): the swap moves names, not folders, so the handle keeps naming the version it
opened. Each file is checked against the manifest on the handle it is then read from.

A file can still vanish under the reader (the old version is removed after the swap):
:func:`read_pinned` then reads the new version, but only when the path now names another folder
than the one read, so a damaged index still fails as damaged. Where ``openat`` is missing
(Windows), files are read by name and the read is retried when the manifest changed meanwhile.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TypeVar

import numpy as np

from .errors import IndexCorruptedError, IndexNotFoundError
from .manifest import MANIFEST_NAME, Manifest, locate_index

__all__ = ["PinnedFolder", "load_npy", "read_pinned"]

T = TypeVar("T")
#: Reads before giving up: each retry needs another save to land during the read.
_ATTEMPTS = 5
_HAS_OPENAT = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


class PinnedFolder:
    """One version of the index folder at ``path``; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._files = ExitStack()
        self._opened: dict[str, IO[bytes]] = {}
        self._manifest_read: tuple[int, ...] | None = None  # the manifest file read_manifest read
        if _HAS_OPENAT:
            try:
                self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
            except (FileNotFoundError, NotADirectoryError) as exc:
                raise IndexNotFoundError(f"{path}: no such index directory") from exc
            self._identity = _folder_identity(os.fstat(self._fd))
        else:
            if not path.is_dir():
                raise IndexNotFoundError(f"{path}: no such index directory")
            self._identity = self._manifest_identity()

    def __enter__(self) -> PinnedFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._files.close()
        self._opened.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def shown(self, name: str) -> Path:
        """The file's path as messages name it."""
        return self.path / name

    def read_manifest(self) -> Manifest:
        try:
            f = self._open(MANIFEST_NAME)
        except (FileNotFoundError, IsADirectoryError):
            Manifest.read(self.path)  # raises the error that says what the folder holds instead
            raise IndexCorruptedError(f"{self.path}: {MANIFEST_NAME} disappeared while it was read") from None
        with f:
            self._manifest_read = _folder_identity(os.fstat(f.fileno()))
            return Manifest.parse(f.read(), self.shown(MANIFEST_NAME))

    def open_verified(self, manifest: Manifest, *, checksums: bool, names: Collection[str] | None = None) -> None:
        """Open every file the manifest lists (or those of them in ``names``) and check it (size,
        and SHA-256 with ``checksums``) on the handle :meth:`file` then hands out: what is
        checked is what is read. A name may be ``part/file`` (a multi-vector segment's): it is
        resolved under this folder's handle like any other."""
        for name in manifest.files:
            if names is not None and name not in names:
                continue
            try:
                f = self._files.enter_context(self._open(name))
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise IndexCorruptedError(f"{self.shown(name)}: missing (the manifest lists it)") from None
            manifest.verify_file(name, f, self.shown(name), checksums=checksums)
            self._opened[name] = f

    def file(self, name: str) -> IO[bytes]:
        """A file opened and checked by :meth:`open_verified`, at its start."""
        f = self._opened[name]
        f.seek(0)
        return f

    def array(self, name: str, *, mmap: bool = True) -> np.ndarray:
        """The ``.npy`` file ``name`` (opened by :meth:`open_verified`), memory-mapped from its
        handle with ``mmap``; the mapping outlives the handle and the folder."""
        return load_npy(self.file(name), mmap=mmap)

    @property
    def files(self) -> Mapping[str, IO[bytes]]:
        return self._opened

    @property
    def pinned(self) -> bool:
        """Whether files are read through the folder's handle (else by name: no ``openat``)."""
        return self._fd is not None

    def moved(self) -> bool:
        """Whether ``path`` no longer names the version this object reads: a save replaced the
        folder, or replaced the manifest in it (a multi-vector index saved or compacted in
        place, which then removes the segments the old manifest named)."""
        if self._fd is None:
            return self._manifest_identity() != self._identity
        try:
            if _folder_identity(os.stat(locate_index(self.path))) != self._identity:
                return True
            if self._manifest_read is None:
                return False
            with self._open(MANIFEST_NAME) as f:
                return _folder_identity(os.fstat(f.fileno())) != self._manifest_read
        except OSError:
            return True

    def _open(self, name: str) -> IO[bytes]:
        if self._fd is None:
            return open(self.path / name, "rb")
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0), dir_fd=self._fd)
        try:
            if not _is_regular(fd):
                raise IsADirectoryError(errno.EISDIR, "not a regular file", name)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def _manifest_identity(self) -> tuple[int, ...]:
        try:
            st = os.stat(self.path / MANIFEST_NAME)
        except OSError:
            return ()
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def read_pinned(path: Path, read: Callable[[PinnedFolder], T]) -> T:
    """``read(folder)`` on one version of the index at ``path``; again on the version a
    concurrent save put there when that save made the read fail (or, without ``openat``,
    may have mixed it)."""
    for attempt in range(_ATTEMPTS):
        with PinnedFolder(locate_index(path)) as folder:
            try:
                result = read(folder)
            except (IndexCorruptedError, IndexNotFoundError):
                if attempt == _ATTEMPTS - 1 or not folder.moved():
                    raise
                continue
            if not folder.pinned and folder.moved() and attempt < _ATTEMPTS - 1:
                continue  # read by name while the files changed: possibly a mix
            return result
    raise AssertionError("unreachable")  # pragma: no cover


def load_npy(f: IO[bytes], *, mmap: bool) -> np.ndarray:
    """An .npy file from an open handle; memory-mapped from that handle (``np.load`` maps only
    by name, and the name may by now be another version's file). Raises ValueError for a file
    that is not an .npy array of plain values."""
    fmt = np.lib.format
    if not mmap:
        return np.load(f, allow_pickle=False)  # type: ignore[no-any-return]
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version} is not one this index writes")
    if dtype.hasobject:
        raise ValueError("holds Python objects")
    if 0 in shape:  # nothing to map (and mmap refuses a mapping of no data bytes on some systems)
        f.seek(0)
        return np.load(f, allow_pickle=False)  # type: ignore[no-any-return]
    return np.memmap(f, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=f.tell())


def _folder_identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino)


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)
