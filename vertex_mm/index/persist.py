"""Writing index directories, for every index kind: atomic, fsync'd, checksummed.

Two ways to change an index on disk, both crash-safe:

* :func:`write_directory` writes a whole index into a hidden sibling directory
  (``.NAME.tmp-PID-XXXXXXXX``), records every file's size and SHA-256 in the manifest, fsyncs,
  and swaps it in with ONE atomic exchange of the two directories (Linux ``renameat2``
  ``RENAME_EXCHANGE``): a crash at any point leaves either the old index or the new one at
  the path, never a mix and never neither (flat, FAISS and OCR-assisted indexes, and a
  multi-vector index saved to a new place). Where the exchange is not available (another OS,
  or a filesystem that refuses it) the swap is two renames; a crash between them leaves the
  path empty for a moment, and :func:`locate_index` then finds the complete version beside it.
* :func:`write_subdirectory` adds an immutable part (a multi-vector segment) under an existing
  index, and :func:`write_manifest` then replaces the manifest atomically (write, fsync,
  rename): until the new manifest names the part, readers do not see it. A part the manifest
  no longer names (compaction) is removed after the new manifest is in place.

What a crash leaves behind (temporary siblings and files, parts no manifest names) is removed
by the next save (:func:`remove_stale`), never by a load: loading only reads. Temporary names
carry the writer's process id, so a save never removes the files of a writer that still runs.

The layout and the checks on load are in :mod:`vertex_mm.index.manifest`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import stat
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import OutputPathError
from .manifest import MANIFEST_NAME, TEMP_NAME, FileRecord, Manifest, file_record, locate_index

__all__ = [
    "fsync_file",
    "locate_index",
    "remove_stale",
    "remove_stale_siblings",
    "write_directory",
    "write_manifest",
    "write_subdirectory",
]

#: Writes an index's files into the given directory and returns their paths relative to it.
FileWriter = Callable[[Path], list[str]]

# Temporary names: TEMP_NAME (see the manifest module) and ".manifest.json.<pid>-<hex>" (a
# manifest being written; earlier versions wrote ".manifest.json.<hex>").
_MANIFEST_TEMP = re.compile(r"\." + re.escape(MANIFEST_NAME) + r"\.(?:(?P<pid>[0-9]+)-)?[0-9a-f]{8}")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def write_directory(path: Path, manifest: Manifest, write_files: FileWriter,
                    manifest_for: Callable[[dict[str, FileRecord]], Manifest] | None = None) -> Manifest:
    """Write a complete index at ``path`` (replacing any index there); returns the manifest
    as written, with its file records. ``manifest_for(records)``, when given, makes the
    manifest from the records of the files written instead (a kind whose format version
    depends on its files)."""
    # Absolute and normalised: "." or "sub/.." names no entry of its parent to swap (EBUSY
    # after all the work), and the temporary folder would go inside the target.
    path = Path(os.path.abspath(path))
    if path.is_symlink():  # write where the link points: the swap replaced the link with a folder
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file, not an index folder; refusing to replace it", input_name=str(path))
    if path.exists() and not (path / MANIFEST_NAME).is_file() and any(path.iterdir()):
        raise OutputPathError(f"{path} exists and is not a vertex-mm index; refusing to replace it", input_name=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / _temp_name(path.name, "tmp")
    tmp.mkdir()
    try:
        records = _records(tmp, write_files(tmp))
        written = write_manifest(tmp, manifest.with_files(records) if manifest_for is None else manifest_for(records))
        _fsync_dir(path.parent)  # the new directory's entry is durable before it is swapped in
        _swap(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale_siblings(path)
    return written


def write_subdirectory(root: Path, name: str, write_files: FileWriter) -> dict[str, FileRecord]:
    """Write a new part ``root/name`` whole or not at all; returns its file records keyed by
    path relative to ``root`` (``name/file``), for the manifest."""
    tmp = root / _temp_name(name, "tmp")
    tmp.mkdir()
    try:
        records = _records(tmp, write_files(tmp))
        os.replace(tmp, root / name)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {f"{name}/{rel}": rec for rel, rec in records.items()}


def write_manifest(directory: Path, manifest: Manifest) -> Manifest:
    """Replace ``manifest.json`` atomically (its presence marks a complete index); returns the
    manifest as written (stamped with its creation time when it had none)."""
    stamped = manifest.stamped()
    tmp = directory / f".{MANIFEST_NAME}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(stamped.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / MANIFEST_NAME)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return stamped


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale(directory: Path, manifest: Manifest, parts: re.Pattern[str]) -> list[str]:
    """Remove what crashed saves left inside ``directory``: folders whose names match
    ``parts`` (e.g. segments) that ``manifest`` does not name, and temporary folders and
    manifests of writers that no longer run. Only direct children are looked at, so nothing
    outside the index can be touched, whatever the manifest says. Returns the names removed."""
    named = {name.split("/", 1)[0] for name in manifest.files}
    removed = []
    for entry in directory.iterdir():
        name = entry.name
        temp = TEMP_NAME.fullmatch(name) or _MANIFEST_TEMP.fullmatch(name)
        stale_part = parts.fullmatch(name) is not None and name not in named
        if stale_part or (temp is not None and not _alive(temp["pid"])):
            _remove(entry)
            removed.append(name)
    return removed


def remove_stale_siblings(path: Path) -> list[str]:
    """Remove the temporary siblings of the index at ``path`` (``.NAME.tmp-…``,
    ``.NAME.old-…``) whose writer no longer runs; returns their names."""
    removed = []
    for entry in path.parent.iterdir():
        m = TEMP_NAME.fullmatch(entry.name)
        if m and m["name"] == path.name and not _alive(m["pid"]):
            _remove(entry)
            removed.append(entry.name)
    return removed


def _temp_name(name: str, what: str) -> str:
    return f".{name}.{what}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _alive(pid: str | None) -> bool:
    """Whether the process that made a temporary name still runs (names without a pid, from
    earlier versions, count as left over)."""
    if not pid:
        return False
    n = int(pid)
    if n == os.getpid():
        return True
    try:
        os.kill(n, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a pid we cannot ask about: leave it alone
    return True


def _remove(entry: Path) -> None:
    """Remove one direct child of an index folder; a symbolic link is unlinked, never followed."""
    try:
        mode = entry.lstat().st_mode
        if stat.S_ISDIR(mode):
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()
    except OSError:
        pass


def _records(directory: Path, names: list[str]) -> dict[str, FileRecord]:
    """fsync each written file and record its size and SHA-256."""
    records = {}
    for name in names:
        fsync_file(directory / name)
        records[name] = file_record(directory / name)
        if "/" in name:
            _fsync_dir((directory / name).parent)
    _fsync_dir(directory)
    return records


def _swap(tmp: Path, path: Path) -> None:
    """Put the complete directory ``tmp`` at ``path``: one rename when ``path`` is free, one
    atomic exchange when it holds an index (the old one is then removed from ``tmp``)."""
    if not path.exists():
        os.rename(tmp, path)
        _fsync_dir(path.parent)
        return
    if _exchange(tmp, path):
        _fsync_dir(path.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # No atomic exchange here: two renames; locate_index covers a crash between them.
    old = path.parent / _temp_name(path.name, "old")  # same pid as tmp: locate_index pairs them
    os.rename(path, old)
    try:
        _between_renames()
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)  # an error (not a crash) between the renames: put the old one back
        raise
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


def _between_renames() -> None:
    """A seam for the crash tests: the moment a two-rename swap has no index at the path."""


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two directories (Linux ``renameat2(RENAME_EXCHANGE)``); False when
    this system or filesystem cannot, so the caller falls back to two renames."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False  # not supported by this kernel or filesystem
    raise OSError(err, os.strerror(err), str(b))


_RENAMEAT2: list[Any] = []


def _renameat2() -> Any:
    if not _RENAMEAT2:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                fn.restype = ctypes.c_int
            except (OSError, AttributeError):  # a C library without renameat2 (glibc < 2.28)
                fn = None
        _RENAMEAT2.append(fn)
    return _RENAMEAT2[0]


def _fsync_dir(path: Path) -> None:
    try:
        fsync_file(path)
    except OSError:  # some filesystems refuse fsync on directories
        pass
