"""MUVERA sidecars of a multi-vector index: one fixed-dimensional encoding per page, per segment.

::

    seg-000001/
        fde-muvera-k4r20p16s0.npy   (pages, fde_dim) float32, row i = page i of the segment

A segment's sidecar is written with the segment (the same immutable folder, recorded with its
size and SHA-256 in the manifest like every other file), when the index was created with
``muvera=`` or :meth:`~vertex_mm.index.MultiVectorIndex.enable_muvera` was called; the
manifest's ``config["muvera"]`` holds the settings. The settings' tag is in the file name, so a
sidecar of other settings is never read by mistake: a segment without a sidecar of the current
settings is encoded in memory when first searched, and :meth:`compact` writes the one segment
it keeps with its sidecar (the rows of the live pages).

Deleted pages keep their rows here, as in the token store; the search masks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..late_interaction.muvera import MuveraConfig, MuveraEncoder
from ..late_interaction.packed import PackedPages
from ._segments import Segment
from ._sidecars import SegmentSidecars
from .errors import IndexCorruptedError

__all__ = ["FdeSidecars", "is_sidecar", "sidecar_name"]

_SIDECAR = re.compile(r"fde-muvera-[a-z0-9]+\.npy")


def sidecar_name(config: MuveraConfig) -> str:
    return f"fde-{config.tag()}.npy"


def is_sidecar(name: str) -> bool:
    """Whether ``name`` is a sidecar file name this module writes (of any settings)."""
    return _SIDECAR.fullmatch(name) is not None


class FdeSidecars(SegmentSidecars[np.ndarray]):
    """The encodings of an index's segments: read from sidecars, or computed and kept in memory.

    ``config`` is the persisted setting (None: sidecars are not written; a search still
    encodes in memory with :meth:`settings`).
    """

    def __init__(self, dimension: int, config: MuveraConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.dimension = dimension
        self.config = self._checked(config)
        self._in_memory: MuveraConfig | None = None  # settings of a search on an index without config
        self._encoder: MuveraEncoder | None = None

    def _checked(self, config: MuveraConfig | Mapping[str, Any] | None) -> MuveraConfig | None:
        if config is None:
            return None
        cfg = config if isinstance(config, MuveraConfig) else MuveraConfig.from_dict(config)
        if cfg.dimension != self.dimension:
            from ..errors import InputError

            raise InputError(f"MUVERA settings are for {cfg.dimension}-d vectors, the index holds {self.dimension}-d ones",
                             input_name="muvera")
        return cfg

    def settings(self) -> MuveraConfig:
        """The persisted settings, else the defaults for the index's dimension."""
        if self.config is not None:
            return self.config
        if self._in_memory is None:
            self._in_memory = MuveraConfig(dimension=self.dimension)
        return self._in_memory

    def enable(self, config: MuveraConfig | Mapping[str, Any] | None) -> MuveraConfig:
        """Persist ``config`` (None: the defaults) from now on; encodings of other settings are dropped."""
        cfg = self._checked(config) or MuveraConfig(dimension=self.dimension)
        if cfg != self.settings():
            self.forget_all()
            self._encoder = None
        self.config = cfg
        return cfg

    @property
    def encoder(self) -> MuveraEncoder:
        cfg = self.settings()
        if self._encoder is None or self._encoder.config != cfg:
            self._encoder = MuveraEncoder(cfg)
        return self._encoder

    def fde(self, seg: Segment, *, saved: bool = True) -> np.ndarray:
        """``(len(seg.rows), fde_dim)`` float32: the segment's sidecar, or its pages encoded now.
        ``saved=False`` for the pages not yet saved (cached until they change)."""
        return self.get(seg, saved=saved)

    def _marker(self) -> str:
        return sidecar_name(self.settings())

    def _build(self, pages: PackedPages) -> np.ndarray:
        return self.encode(pages)

    def encode(self, pages: PackedPages) -> np.ndarray:
        if len(pages) == 0:
            return np.zeros((0, self.encoder.fde_dim), np.float32)
        return self.encoder.encode_documents(pages)

    def write(self, folder: Path, segment: str, encodings: np.ndarray) -> list[str]:
        """Write the sidecar of segment ``segment`` into ``folder`` (the segment's new folder)
        when the settings are persisted; returns the names written."""
        if self.config is None:
            return []
        name = sidecar_name(self.config)
        np.save(folder / name, np.ascontiguousarray(encodings, dtype=np.float32))
        self._saved[segment] = encodings
        return [name]

    def _owns(self, file: str) -> bool:
        return is_sidecar(file)

    def _read(self, seg: Segment) -> np.ndarray:
        assert self._root is not None
        path = self._root / seg.record.name / sidecar_name(self.settings())
        try:
            arr = self._array(seg, sidecar_name(self.settings()))
        except IndexCorruptedError as exc:
            raise IndexCorruptedError(f"MUVERA sidecar: {exc}") from exc
        if arr.shape != (len(seg.rows), self.encoder.fde_dim) or arr.dtype != np.float32:
            raise IndexCorruptedError(f"MUVERA sidecar {path} holds {arr.dtype} {arr.shape}; the segment has "
                                      f"{len(seg.rows)} pages of {self.encoder.fde_dim}-d encodings")
        return np.asarray(arr)
