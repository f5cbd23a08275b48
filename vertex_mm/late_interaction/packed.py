"""Multi-vector pages in the one layout every scorer here reads: a flat token matrix plus offsets.

A page is an ``(n_i, d)`` matrix (ColPali: ~1030 patch vectors of 128 floats). Pages of a
collection differ in ``n_i`` (ColQwen2 follows the image's aspect ratio), so padding every page
to the longest wastes memory. :class:`PackedPages` stores the rows of all pages end to end,
``tokens[offsets[i]:offsets[i + 1]]`` being page ``i``. It memory-maps without a copy, and a
contiguous range of pages is one contiguous slice, which is what a fused scorer wants.

Padded batches with masks (the layout of a model's output) convert both ways:
:meth:`PackedPages.from_padded` and :meth:`PackedPages.to_padded`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ._readahead import advise_rows

__all__ = ["FLOAT_DTYPES", "PackedPages", "PagesEndToEnd", "as_packed", "check_fits", "check_offsets", "gather_rows",
           "int_at_least", "pack_queries"]

#: Storage dtypes a float page may have: float32 (exact) or float16 (half the bytes).
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def _check_matrix(arr: np.ndarray, what: str, dim: int | None) -> None:
    if arr.ndim != 2:
        raise InputError(f"{what} must be a 2-D (tokens, dim) array, got shape {arr.shape}", input_name=what)
    if arr.shape[0] == 0:
        raise InputError(f"{what} has no vectors; a page or query needs at least one", input_name=what)
    if arr.shape[1] == 0:
        raise InputError(f"{what} has vectors of dimension 0; they need at least one value", input_name=what)
    if dim is not None and arr.shape[1] != dim:
        raise InputError(f"{what} has dimension {arr.shape[1]}, expected {dim}", input_name=what)
    if arr.dtype.kind == "f" and not _all_finite(arr):
        raise InputError(f"{what} contains NaN or infinite values", input_name=what)


def _all_finite(arr: np.ndarray) -> bool:
    if arr.dtype == np.float16:
        # By the bits: numpy's float16 isfinite converts value by value, 7x slower.
        exponent = np.uint16(0x7C00)
        return not bool(((arr.view(np.uint16) & exponent) == exponent).any())
    return bool(np.isfinite(arr).all())


def check_fits(arr: np.ndarray, dtype: np.dtype | type | str, what: str) -> None:
    """Raise :class:`InputError` naming ``what`` when finite float values of ``arr`` would turn
    infinite as ``dtype`` (float16 ends at 65504, float32 at 3.4e38): a store that cast them
    would hold infinities that every later search refuses."""
    target = np.dtype(dtype)
    if arr.dtype.kind != "f" or target.kind != "f" or target.itemsize >= arr.dtype.itemsize or arr.size == 0:
        return
    info = np.finfo(target)
    largest = float(info.max)
    # Values up to half a step past the largest round to it; from there on, to infinity.
    limit = largest + 2.0 ** (info.maxexp - info.nmant - 2)
    peak = float(np.abs(arr).max())
    if peak >= limit:
        raise InputError(f"{what} has values up to {peak:.6g}, beyond {target.name}'s range (largest {largest:.6g}): "
                         f"scale the vectors, or keep them in a wider dtype (an index: dtype=\"float32\")", input_name=what)


def int_at_least(value: Any, name: str, least: int) -> int:
    """``value`` as an ``int`` when it is an integer (not a bool) >= ``least``; otherwise
    :class:`InputError` naming ``name`` and the limit. For the counts and knobs of a search."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InputError(f"{name} must be an integer >= {least}, got {value!r}", input_name=name)
    return int(value)


def check_offsets(offsets: np.ndarray, n_tokens: int, *, empty_pages: bool = True) -> None:
    """Raise ``ValueError`` unless ``offsets`` is a 1-D integer array that starts at 0, never
    decreases (strictly increases when not ``empty_pages``) and ends at ``n_tokens``: then
    every page ``offsets[i]:offsets[i + 1]`` lies inside the token rows. O(pages); called
    when pages are built or loaded, never per query."""
    if offsets.ndim != 1 or offsets.size < 1 or offsets.dtype.kind not in "iu":
        raise ValueError(f"offsets must be a 1-D integer array, got {offsets.dtype} {offsets.shape}")
    if int(offsets[0]) != 0:
        raise ValueError(f"offsets must start at 0, got {int(offsets[0])}")
    if int(offsets[-1]) != n_tokens:
        raise ValueError(f"offsets end at {int(offsets[-1])} but there are {n_tokens} token rows")
    steps = np.diff(offsets.astype(np.int64, copy=False))
    bad = np.flatnonzero(steps < 0 if empty_pages else steps <= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"offsets must {'not decrease' if empty_pages else 'increase'}: page {i} runs from "
                         f"{int(offsets[i])} to {int(offsets[i + 1])}")


def gather_rows(offsets: np.ndarray, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of pages ``indices`` (in that order, repeats allowed) of a store whose page
    ``i`` is rows ``offsets[i]:offsets[i + 1]``, and those pages' offsets end to end: ``(rows,
    new_offsets)``, both int64. Every store's ``select`` gathers its rows with these."""
    idx = np.asarray(indices, dtype=np.int64)
    starts = offsets[idx].astype(np.int64, copy=False)
    lengths = offsets[idx + 1] - starts
    new_offsets = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    # Row r of the result is starts[page] + (r - new_offsets[page]).
    rows = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(int(new_offsets[-1]), dtype=np.int64)
    return rows, new_offsets


class PagesEndToEnd:
    """What every store of pages end to end shares: ``tokens`` ``(total tokens, dim)`` (a numpy
    array, or a torch tensor on a device) and host ``offsets`` ``(pages + 1,)``."""

    tokens: Any
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    @property
    def dim(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class PackedPages(PagesEndToEnd):
    """Pages stored end to end: ``tokens`` is ``(total_tokens, dim)``, ``offsets`` ``(pages + 1,)``."""

    tokens: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2:
            raise ValueError(f"tokens must be 2-D, got shape {self.tokens.shape}")
        if self.offsets.ndim != 1 or self.offsets.size < 1 or self.offsets[0] != 0:
            raise ValueError("offsets must be 1-D and start at 0")
        if int(self.offsets[-1]) != self.tokens.shape[0]:
            raise ValueError(f"offsets end at {int(self.offsets[-1])} but there are {self.tokens.shape[0]} token rows")

    def validate(self) -> None:
        """Full check of pages read from disk (``__post_init__`` checks only the ends, so that
        the small sets a search builds per query cost nothing): integer offsets that increase
        from 0 to the token count, one float row per token. Raises ``ValueError``."""
        if self.tokens.dtype not in FLOAT_DTYPES:
            raise ValueError(f"tokens must be float16 or float32, got {self.tokens.dtype}")
        check_offsets(self.offsets, self.tokens.shape[0], empty_pages=False)

    @classmethod
    def from_list(cls, pages: Sequence[np.ndarray], dtype: np.dtype | type = np.float32) -> "PackedPages":
        """Pack a list of ``(n_i, d)`` arrays; raises :class:`InputError` naming a bad page."""
        if len(pages) == 0:
            raise InputError("no pages given", input_name="pages")
        arrays = [np.asarray(p) for p in pages]
        dim = arrays[0].shape[-1] if arrays[0].ndim == 2 else None
        for i, arr in enumerate(arrays):
            _check_matrix(arr, f"page #{i}", dim)
            check_fits(arr, dtype, f"page #{i}")
        lengths = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.concatenate(arrays, axis=0).astype(dtype, copy=False)
        return cls(tokens, offsets)

    @classmethod
    def from_padded(cls, padded: np.ndarray, mask: np.ndarray | None = None) -> "PackedPages":
        """From a ``(pages, max_tokens, d)`` batch; ``mask`` marks real tokens (all when None)."""
        padded = np.asarray(padded)
        if padded.ndim != 3:
            raise InputError(f"padded pages must be (pages, tokens, dim), got shape {padded.shape}", input_name="pages")
        if mask is None:
            return cls.from_list(list(padded), dtype=padded.dtype if padded.dtype in FLOAT_DTYPES else np.float32)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != padded.shape[:2]:
            raise InputError(f"mask shape {mask.shape} does not match pages {padded.shape[:2]}", input_name="mask")
        dtype = padded.dtype if padded.dtype in FLOAT_DTYPES else np.float32
        return cls.from_list([p[m] for p, m in zip(padded, mask)], dtype=dtype)

    @classmethod
    def concat(cls, parts: Iterable["PackedPages"]) -> "PackedPages":
        parts = list(parts)
        tokens = np.concatenate([p.tokens for p in parts], axis=0)
        lengths = np.concatenate([p.lengths for p in parts])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(tokens, offsets)

    @property
    def nbytes(self) -> int:
        return int(self.tokens.nbytes)

    def page(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def select(self, indices: Sequence[int] | np.ndarray) -> "PackedPages":
        """A new packed set holding the given pages, in the given order (copies their rows)."""
        rows, offsets = gather_rows(self.offsets, indices)
        idx = np.asarray(indices, dtype=np.int64)
        advise_rows(self.tokens, self.offsets[idx], self.offsets[idx + 1])  # a memory map: read ahead
        # take (of the plain ndarray view: a copy, not a memmap) is faster than tokens[rows].
        return PackedPages(np.take(np.asarray(self.tokens), rows, axis=0), offsets)

    def to_padded(self, dtype: np.dtype | type | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(pages, max_tokens, d)`` zero-padded copy and its ``(pages, max_tokens)`` mask."""
        lengths = self.lengths
        n_max = int(lengths.max()) if len(self) else 0
        out = np.zeros((len(self), n_max, self.dim), dtype=dtype or self.tokens.dtype)
        mask = np.arange(n_max)[None, :] < lengths[:, None]
        out[mask] = self.tokens
        return out, mask

    def astype(self, dtype: np.dtype | type) -> "PackedPages":
        """These pages as ``dtype``; :class:`InputError` if a value would not fit it."""
        check_fits(self.tokens, dtype, "pages")
        return PackedPages(self.tokens.astype(dtype, copy=False), self.offsets)


def as_packed(pages: "PackedPages | Sequence[np.ndarray] | np.ndarray", mask: np.ndarray | None = None) -> PackedPages:
    """Accept a :class:`PackedPages`, a list of ``(n_i, d)`` arrays, or a padded batch (+ mask)."""
    if isinstance(pages, PackedPages):
        return pages
    if isinstance(pages, np.ndarray) and pages.ndim == 3:
        return PackedPages.from_padded(pages, mask)
    return PackedPages.from_list(list(pages))


def split_queries(queries: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """Queries as a list of ``(n_i, d)`` arrays: one 2-D query is a list of one, and a
    zero-padded ``(Q, n, d)`` batch (what a ColPali forward pass returns) loses each query's
    trailing all-zero rows (one row is always kept). Every scorer takes queries through here:
    the index once kept the padding, and in binary mode a zero token is an all-zero sign code
    that adds a different distance to each page."""
    if isinstance(queries, np.ndarray) and queries.ndim == 2:
        return [queries]
    if isinstance(queries, np.ndarray) and queries.ndim == 3:
        nonzero = (queries != 0).any(axis=2)  # (Q, n)
        keep = np.maximum(queries.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 1)
        keep[~nonzero.any(axis=1)] = 1
        return [q[:n] for q, n in zip(queries, keep)]
    return list(queries)


def pack_queries(queries: Sequence[np.ndarray] | np.ndarray, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad queries to ``(Q, max_tokens, d)`` float32, with the ``(Q, max_tokens)`` mask.

    A zero query token adds exactly 0 to MaxSim (its dot product with every page token is 0),
    but the scorers sum each query over its own tokens only (the order of a float32 sum depends
    on its length: :func:`~.maxsim.query_sums`). A zero-padded ``(Q, n, d)`` batch is taken
    apart again: each query's trailing all-zero rows are padding (one row is always kept).
    """
    raw = [np.asarray(q) for q in split_queries(queries)]
    for i, q in enumerate(raw):
        check_fits(q, np.float32, f"query #{i}")
    arrays = [q.astype(np.float32, copy=False) for q in raw]
    if not arrays:
        raise InputError("no queries given", input_name="queries")
    dim = dim if dim is not None else arrays[0].shape[-1]
    for i, q in enumerate(arrays):
        _check_matrix(q, f"query #{i}", dim)
    n_max = max(q.shape[0] for q in arrays)
    out = np.zeros((len(arrays), n_max, dim), dtype=np.float32)
    mask = np.zeros((len(arrays), n_max), dtype=bool)
    for i, q in enumerate(arrays):
        out[i, : q.shape[0]] = q
        mask[i, : q.shape[0]] = True
    return out, mask
