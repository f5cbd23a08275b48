"""Screened copies of a multi-vector index's segments: what ``mode="screened"`` searches.

A segment holds the pair of the screen the machine that wrote it runs
(:func:`~vertex_mm.late_interaction.screened.screen_kind`)::

    seg-000001/
        screen-bf16.npy     (tokens, dimension) uint16: the stored tokens rounded to bfloat16
                            (bit patterns; numpy has no bfloat16)
        screen-norms.npy    (3, pages) float64: per page, the largest |p|, |b(p)| and |b(p) - p|
                            over its tokens, with the slack of the bound already applied
    or
        screen-int16.npy    (blocks, dimension / 2 rounded up to 4, 8) int32: the tokens rounded to
                            16-bit integers in the integer kernel's layout (pairs of int16)
        screen-int16-stats.npy  (4, pages) float64: per page, the scale and the largest residual,
                            rounded norm and norm, slack applied

These are the arrays of :class:`vertex_mm.late_interaction.ScreenedPages` (built by its
:meth:`~vertex_mm.late_interaction.ScreenedPages.from_pages`, so the numbers are exactly the
ones the certified bound is proven for). A segment's pair is written with the segment (the same
immutable folder, each file's size and SHA-256 in the manifest, checked on open like every
other file), rebuilt for the one segment :meth:`compact` keeps, and read lazily on the first
screened search. The pair is optional: a segment saved without it (an index written before
screened copies existed, saved where torch is not installed, or saved with the other kind of
screen, on another machine) is screened from a copy built in memory on its first search, except
that a bfloat16 pair is read and screened with wherever bfloat16 is native (an index saved on an
AVX512-BF16 CPU before int16 became the screen there: no second copy in memory). One
file of a pair without the other is corruption. An index holding int16 pairs is written as
manifest format 4, which releases before them refuse ("upgrade vertex-mm") instead of calling
the files they do not know corruption. The bound certifies the answer only if the norms are the
pages' own: ``load(verify=False)`` checks the files' sizes, and the first screened search the
shapes and signs of the pair it reads, not its contents, so a doctored copy of the right shape
is caught only by the checksums of a verified load.

Deleted pages keep their rows here, as in the token store; the search masks them.

:func:`screened_topk` is :meth:`ScreenedPages.exact_topk` over a segment's live pages: the
screen's scores and bound rule pages out, and each query's surviving pages are rescored in
float32 with the same bits as the scan ``mode="exact"`` makes (see
:mod:`vertex_mm.late_interaction.screened` for why a subset of pages and queries keeps them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..late_interaction._int16_layout import block_offsets_of
from ..late_interaction.int16_screen import Int16Screen, padded_dim
from ..late_interaction.maxsim import _as_tensor, maxsim, top_k
from ..late_interaction.packed import PackedPages
from ..late_interaction.screened import ScreenedPages, held_bfloat16_runs, screen_kind, stored_screen_kind
from ._segments import Segment
from ._sidecars import SegmentSidecars
from .errors import IndexCorruptedError

__all__ = ["SCREEN_FILES", "SCREEN_PAIRS", "ScreenCopies", "is_screen_file", "screened_topk"]

SCREEN, NORMS = "screen-bf16.npy", "screen-norms.npy"
INT16, INT16_STATS = "screen-int16.npy", "screen-int16-stats.npy"
#: Each kind of screen's files, written and read as a pair.
SCREEN_PAIRS = {"bfloat16": (SCREEN, NORMS), "int16": (INT16, INT16_STATS)}
#: Every screened file a segment may hold.
SCREEN_FILES = (SCREEN, NORMS, INT16, INT16_STATS)


def is_screen_file(name: str) -> bool:
    """Whether ``name`` is one of the screened files a segment may hold."""
    return name in SCREEN_FILES


def screened_topk(screened: ScreenedPages, queries: list[np.ndarray], k: int,
                  live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``top_k(maxsim(queries, screened.pages), k)`` over the ``live`` pages (the others never
    returned; ``k`` at most the live pages), bit for bit, through the certified screen."""
    return screened.exact_topk(queries, k, live=live)


def _can_build() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class ScreenCopies(SegmentSidecars[ScreenedPages]):
    """The :class:`ScreenedPages` of an index's segments: read from their files, or built and
    kept in memory (segments saved without them, and the pages not yet saved)."""

    def screened(self, seg: Segment, *, saved: bool = True) -> ScreenedPages:
        """The segment's screened pages; ``saved=False`` for the pages not yet saved (cached
        until they change). A copy kept from before the screen this machine runs changed
        (``VERTEX_MM_SCREEN``) is replaced by one of the screen that runs now."""
        sp = self.get(seg, saved=saved)
        if sp.screen_here() is None and screen_kind() is not None:
            self.drop(seg, saved=saved)
            sp = self.get(seg, saved=saved)
        return sp

    def _marker(self) -> str:
        # The pair of the screen this machine runs; a segment holding the other is built anew,
        # unless it is a bfloat16 pair that runs here too (_held_kind).
        return SCREEN_PAIRS[stored_screen_kind()][0]

    def _held_kind(self, name: str) -> str | None:
        """The kind of the pair segment ``name`` holds that is screened with here: this machine's,
        or a bfloat16 pair where bfloat16 is native (:func:`held_bfloat16_runs`: an index saved
        on this CPU before int16 became its screen is read, not rebuilt in memory)."""
        if self._root is None:
            return None
        here = stored_screen_kind()
        if f"{name}/{SCREEN_PAIRS[here][0]}" in self._files:
            return here
        if here == "int16" and f"{name}/{SCREEN}" in self._files and held_bfloat16_runs():
            return "bfloat16"
        return None

    def _on_disk(self, name: str) -> bool:
        return self._held_kind(name) is not None

    def _build(self, pages: PackedPages) -> ScreenedPages:
        return ScreenedPages.from_pages(pages)

    def search(self, segs: list[Segment], pending: Segment | None, queries: list[np.ndarray], k: int,
               pages_per_k: int) -> tuple[np.ndarray, np.ndarray]:
        """``top_k`` of the float32 scan of every live page of ``segs`` (``pending``: the one
        not saved yet), bit for bit: ``(values, ids)``, ids over ``segs``' rows in order, ties
        to the lower id. A segment of fewer than ``pages_per_k * k`` live pages is scanned."""
        vals, ids, base = [], [], 0
        for seg in segs:
            live = seg.live
            if int(live.sum()) >= pages_per_k * k:
                v, i = screened_topk(self.screened(seg, saved=seg is not pending), queries, k, live)
            else:
                scores = maxsim(queries, seg.pages)
                scores[:, ~live] = -np.inf
                v, i = top_k(scores, min(k, int(live.sum())))
            vals.append(v)
            ids.append(i + base)
            base += len(seg.rows)
        v_all, i_all = np.concatenate(vals, axis=1), np.concatenate(ids, axis=1)
        order = np.lexsort((i_all, -v_all), axis=1)[:, :k]
        return np.take_along_axis(v_all, order, axis=1), np.take_along_axis(i_all, order, axis=1)

    def write(self, folder: Path, pages: PackedPages) -> list[str]:
        """Write the screened copy of ``pages`` (a new segment's) into ``folder``; returns the
        names written (none when torch, which builds it, is not installed)."""
        if len(pages) == 0 or not _can_build():
            return []
        try:
            kind = stored_screen_kind()
        except InputError:  # a misspelt VERTEX_MM_SCREEN: save the index without the copy (a search says why)
            return []
        copy_name, norms_name = SCREEN_PAIRS[kind]
        mapped: list[np.memmap] = []

        def to_file(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
            # The copy is built straight into its file: a save holds no whole copy in memory
            # (at 100,000 pooled pages, 8.8 GB), and the checksums then read the file.
            mapped.append(np.lib.format.open_memmap(folder / copy_name, mode="w+", dtype=dtype, shape=shape))
            return mapped[-1]

        sp = ScreenedPages.from_pages(pages, kind=kind, copy_to=to_file)  # type: ignore[arg-type]
        if sp.int16 is not None:
            norms = sp.int16.stats
        else:
            assert sp.norm is not None and sp.screen_norm is not None and sp.residual is not None
            norms = np.stack([sp.norm, sp.screen_norm, sp.residual]).astype(np.float64)
        np.save(folder / norms_name, norms)
        for m in mapped:
            m.flush()
        del sp
        mapped.clear()  # the mappings closed before the folder is checksummed and moved
        return [copy_name, norms_name]

    def _owns(self, file: str) -> bool:
        return is_screen_file(file)

    def _load_pair(self, seg: Segment, kind: str) -> tuple[Path, tuple[np.ndarray, np.ndarray]]:
        """The segment's folder and its pair of ``kind``: the copy memory-mapped, the norms read."""
        assert self._root is not None
        folder = self._root / seg.record.name
        copy, norms = SCREEN_PAIRS[kind]
        try:
            return folder, (self._array(seg, copy), np.array(self._array(seg, norms)))
        except IndexCorruptedError as exc:
            raise IndexCorruptedError(f"screened copy in {folder} cannot be read: {exc}") from exc

    def _read(self, seg: Segment) -> ScreenedPages:
        if self._held_kind(seg.record.name) == "int16":
            return self._read_int16(seg)
        folder, (screen, norms) = self._load_pair(seg, "bfloat16")
        want_screen = seg.pages.tokens.shape
        if screen.dtype != np.uint16 or screen.shape != want_screen or not screen.flags.c_contiguous:
            raise IndexCorruptedError(f"{folder / SCREEN} holds {screen.dtype} {screen.shape}; the segment needs uint16 "
                                      f"{want_screen} in C order")
        if norms.dtype != np.float64 or norms.shape != (3, len(seg.rows)):
            raise IndexCorruptedError(f"{folder / NORMS} holds {norms.dtype} {norms.shape}; the segment needs float64 "
                                      f"(3, {len(seg.rows)})")
        if not (np.isfinite(norms).all() and (norms >= 0).all()):
            raise IndexCorruptedError(f"{folder / NORMS} holds negative or non-finite norms")
        torch = _torch()
        bf16 = _as_tensor(screen.view(np.int16)).view(torch.bfloat16)
        return ScreenedPages(seg.pages, bf16, norms[0].copy(), norms[1].copy(), norms[2].copy())

    def _read_int16(self, seg: Segment) -> ScreenedPages:
        folder, (planes, stats) = self._load_pair(seg, "int16")
        block_offsets = block_offsets_of(seg.pages.lengths)
        want = (int(block_offsets[-1]), padded_dim(seg.pages.dim) // 2, 8)
        if planes.dtype != np.int32 or planes.shape != want or not planes.flags.c_contiguous:
            raise IndexCorruptedError(f"{folder / INT16} holds {planes.dtype} {planes.shape}; the segment needs int32 "
                                      f"{want} in C order")
        if stats.dtype != np.float64 or stats.shape != (4, len(seg.rows)):
            raise IndexCorruptedError(f"{folder / INT16_STATS} holds {stats.dtype} {stats.shape}; the segment needs "
                                      f"float64 (4, {len(seg.rows)})")
        if not (np.isfinite(stats).all() and (stats >= 0).all() and (stats[0] > 0).all()):
            raise IndexCorruptedError(f"{folder / INT16_STATS} holds non-positive scales, negative or non-finite norms")
        return ScreenedPages(seg.pages, int16=Int16Screen(planes, block_offsets, stats.copy(), seg.pages.dim))


def _torch() -> Any:
    from ..late_interaction.maxsim import _torch as torch

    return torch()
