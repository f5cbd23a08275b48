"""Checking what comes in at the index's door: vectors of the right space, with no failed
rows, at unit length; ids; metadata.

An index only takes :class:`~vertex_mm.results.Embeddings`, because a bare array does not say
which model made it. Code that holds raw vectors states their space explicitly::

    index.add(ids, Embeddings(array, index.space))
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..results import Embeddings, EmbeddingSpace
from .errors import InvalidIndexArgumentError, InvalidVectorError

__all__ = ["check_ids", "check_metadata", "check_vectors", "normalize_rows", "row_problems"]


def check_vectors(vectors: Any, space: EmbeddingSpace, *, what: str, labels: Sequence[str] | None = None) -> np.ndarray:
    """Return ``vectors`` as a normalised float32 array, or raise.

    Raises :class:`~vertex_mm.errors.EmbeddingSpaceMismatchError` for another space and
    :class:`InvalidVectorError` for raw arrays, wrong shapes and bad rows (each bad row is named
    by its label, e.g. its id, with the reason).
    """
    if not isinstance(vectors, Embeddings):
        raise InvalidVectorError(
            f"{what} must be vertex_mm.Embeddings, which carry their embedding space; got "
            f"{type(vectors).__name__}. If these vectors really are in {space.id!r}, wrap them: "
            f"Embeddings(array, index.space)",
            input_name=what,
        )
    if vectors.space is None:
        raise InvalidVectorError(f"{what} carry no embedding space (were columns sliced off?)", input_name=what)
    space.require_same(vectors.space, what)
    arr = np.asarray(vectors, dtype=np.float32)
    bad = row_problems(arr, vectors.errors)
    if bad:
        names = labels if labels is not None else [f"row {i}" for i in range(len(arr))]
        shown = "; ".join(f"{names[i]}: {why}" for i, why in list(bad.items())[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise InvalidVectorError(f"{len(bad)} of {len(arr)} {what} are unusable: {shown}{more}", input_name=what)
    return normalize_rows(arr)


def row_problems(arr: np.ndarray, errors: Sequence[Any] | None = None) -> dict[int, str]:
    """Row index -> why the row cannot be indexed or searched (empty when all rows are fine)."""
    out: dict[int, str] = {}
    finite = np.isfinite(arr).all(axis=1)
    nonzero = (np.where(finite[:, None], arr, 0) != 0).any(axis=1) if arr.shape[1] else np.zeros(len(arr), bool)
    for i in range(arr.shape[0]):
        err = errors[i] if errors is not None else None
        if err is not None:
            out[i] = f"embedding failed ({type(err).__name__}: {err})"
        elif not finite[i]:
            out[i] = "holds NaN or inf"
        elif not nonzero[i]:
            out[i] = "is all zeros (no direction to compare)"
    return out


#: Norms a float32 sum of squares computes without overflow (from ~1.8e19) or lost precision
#: (squares below ~1e-38 are subnormal): rows outside are normalised in float64, scaled first.
_SAFE_NORMS = (1e-15, 1e15)


def normalize_rows(arr: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (inner product then equals cosine similarity); all-zero rows
    stay zero. Any finite nonzero row becomes unit length, however large or small its values
    (a float32 norm of [1e20, 1e20] is inf, and the row became zeros)."""
    out = np.array(arr, dtype=np.float32, copy=True)
    with np.errstate(over="ignore", under="ignore"):  # such rows are done again below
        norms = np.linalg.norm(out, axis=1, keepdims=True)
    safe = (norms >= _SAFE_NORMS[0]) & (norms <= _SAFE_NORMS[1])
    np.divide(out, norms, out=out, where=safe)
    risky = np.flatnonzero(~safe[:, 0])
    if risky.size:
        rows = np.asarray(arr, dtype=np.float64)[risky]
        peak = np.abs(rows).max(axis=1, keepdims=True)
        rows = np.divide(rows, peak, out=np.zeros_like(rows), where=peak > 0)  # now within [-1, 1]
        scaled = np.linalg.norm(rows, axis=1, keepdims=True)
        out[risky] = np.divide(rows, scaled, out=np.zeros_like(rows), where=scaled > 0)
    return out


def check_ids(ids: Sequence[str] | str) -> list[str]:
    """``ids`` as a list of non-empty strings, or raise a typed error."""
    if isinstance(ids, str):
        raise InvalidIndexArgumentError("ids must be a sequence of strings, not one string (wrap it: [id])",
                                        input_name="ids")
    if not isinstance(ids, Iterable) or isinstance(ids, Mapping):
        raise InvalidIndexArgumentError(f"ids must be a sequence of strings, got {type(ids).__name__}", input_name="ids")
    out = list(ids)
    for i in out:
        if not isinstance(i, str) or not i:
            raise InputError(f"ids must be non-empty strings, got {i!r}", input_name=str(i))
    return out


def check_metadata(metadata: Sequence[Mapping[str, Any] | None] | None, ids: list[str]) -> list[dict[str, Any] | None]:
    """One JSON-serialisable dict (or None) per id, or raise a typed error."""
    if metadata is None:
        return [None] * len(ids)
    if not isinstance(metadata, Iterable) or isinstance(metadata, (str, bytes, Mapping)):
        raise InvalidIndexArgumentError(f"metadata must be a list of dicts, got {type(metadata).__name__}",
                                        input_name="metadata")
    metadata = list(metadata)
    for m in metadata:
        if m is not None and not isinstance(m, Mapping):
            raise InvalidIndexArgumentError(f"each metadata entry must be a dict or None, got {type(m).__name__}",
                                            input_name="metadata")
    if len(metadata) != len(ids):
        raise InvalidIndexArgumentError(f"{len(ids)} ids but {len(metadata)} metadata entries", input_name="metadata")
    metas: list[dict[str, Any] | None] = []
    for id_, m in zip(ids, metadata):
        # Kept as a saved index reads it back: a deep copy (a later change by the caller cannot
        # make a save fail), keys as strings (filters match the same before and after a save).
        # Empty metadata is stored as None: a million empty dicts would cost ~64 MB for nothing.
        try:
            stored = json.loads(json.dumps(dict(m), allow_nan=False)) if m else None
        except (TypeError, ValueError) as exc:
            raise InputError(f"metadata of id {id_!r} is not JSON-serialisable: {exc}", input_name=id_) from exc
        clash = _key_clash(m)
        if clash is not None:
            raise InputError(f"metadata of id {id_!r} has keys {clash[0]!r} and {clash[1]!r}, which JSON stores as one "
                             f"key {str(clash[2])!r}: one value would be lost; give the keys as distinct strings",
                             input_name=id_)
        metas.append(stored)
    return metas


def _key_clash(given: Any) -> tuple[Any, Any, str] | None:
    """Two keys of one mapping anywhere in ``given`` that JSON turns into one (``1`` and
    ``"1"``, ``True`` and ``"true"``); only mappings with non-string keys can have them."""
    if isinstance(given, Mapping):
        if not all(isinstance(key, str) for key in given):
            seen: dict[str, Any] = {}
            for key in given:
                name = key if isinstance(key, str) else next(iter(json.loads(json.dumps({key: 0}))))
                if name in seen:
                    return seen[name], key, name
                seen[name] = key
        values: Iterable[Any] = given.values()
    elif isinstance(given, (list, tuple)):
        values = given
    else:
        return None
    for value in values:
        found = _key_clash(value)
        if found is not None:
            return found
    return None
