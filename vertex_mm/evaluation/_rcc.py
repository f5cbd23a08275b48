"""Read the files packed in a Qt resource file (``.rcc``), the way GCompris ships its images.

The format (Qt's ``rcc`` tool, versions 1-3): a ``qres`` header with offsets of a node tree, a
data block and a name block. A directory node lists its children; a file node points at its
data, optionally zlib-compressed behind a 4-byte length (Qt's ``qCompress``). zstd-compressed
entries are refused: GCompris does not use them, and reading them would need another library.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = ["RccError", "read_rcc"]

_COMPRESSED, _DIRECTORY, _COMPRESSED_ZSTD = 1, 2, 4


class RccError(ValueError):
    """Raised when a file is not a Qt resource file this reader understands."""


def read_rcc(path: str | Path) -> dict[str, bytes]:
    """Every file in the resource, keyed by its path inside it (``gcompris/src/...``)."""
    blob = Path(path).read_bytes()
    if blob[:4] != b"qres":
        raise RccError(f"{path}: not a Qt resource file (no 'qres' header)")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 22 if version >= 2 else 14  # version 2 added an 8-byte modification time
    out: dict[str, bytes] = {}

    def name_at(offset: int) -> str:
        at = names + offset
        (length,) = struct.unpack(">H", blob[at:at + 2])
        return blob[at + 6:at + 6 + 2 * length].decode("utf-16-be")  # skip the 4-byte hash

    def walk(index: int, prefix: str) -> None:
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[at:at + 6])
        name = name_at(name_offset) if index else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack(">II", blob[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, f"{prefix}{name}/" if name else prefix)
            return
        if flags & _COMPRESSED_ZSTD:
            raise RccError(f"{path}: {prefix}{name} is zstd-compressed, which this reader does not support")
        (data_offset,) = struct.unpack(">I", blob[at + 10:at + 14])
        start = data + data_offset
        (size,) = struct.unpack(">I", blob[start:start + 4])
        raw = blob[start + 4:start + 4 + size]
        out[prefix + name] = zlib.decompress(raw[4:]) if flags & _COMPRESSED else raw

    walk(0, "")
    return out
