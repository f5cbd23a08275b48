"""What embedders return: responses with the vision_models shape, and vector sets that carry
their embedding space so that spaces never mix silently."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import BatchError, EmbeddingSpaceMismatchError, VertexMMError
from .limits.models import canonical_model

__all__ = [
    "EmbeddingSpace",
    "Embeddings",
    "MultiModalEmbeddingResponse",
    "VideoEmbedding",
]


@dataclass(frozen=True)
class EmbeddingSpace:
    """Where a vector lives: vectors are comparable only within one space.

    ``variant`` records anything else that changes the space (a local projection, a
    fine-tuned head). ``task`` records the task instruction that conditioned the vectors
    (gemini-embedding-2): it is kept for reproducibility but does not separate spaces, since a
    query embedded for search and the documents it searches are meant to meet in one space.
    ``id`` is the stable string form stored in index manifests:
    ``backend/model/dimension[/variant][;task=NAME]``.
    """

    backend: str
    model: str
    dimension: int
    variant: str = ""
    task: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # A space of no dimensions holds no direction: every index and scorer would fail later.
        if isinstance(self.dimension, bool) or not isinstance(self.dimension, numbers.Integral) or self.dimension < 1:
            raise ValueError(f"an embedding space needs a positive integer dimension, got {self.dimension!r}")
        object.__setattr__(self, "dimension", int(self.dimension))  # a numpy integer compares and hashes as one int
        if self.backend == "vertex":
            # Another name of the model ("multimodalembedding", a publishers/ path) is the same
            # space: an index whose manifest was written under one takes queries from the other.
            object.__setattr__(self, "model", canonical_model(self.model))

    @property
    def id(self) -> str:
        base = f"{self.backend}/{self.model}/{self.dimension}"
        base = f"{base}/{self.variant}" if self.variant else base
        return f"{base};task={self.task}" if self.task else base

    @classmethod
    def from_id(cls, space_id: str) -> "EmbeddingSpace":
        base, _, params = space_id.partition(";")
        task = params[len("task="):] if params.startswith("task=") else ""
        parts = base.split("/")
        # A model name may hold "/" (an org/model id, as Hugging Face repos are named), so the
        # dimension is the first all-digit segment after the model's first one, not the third
        # segment: "local/acme/encoder-v2/512" is model "acme/encoder-v2". The id's format is
        # unchanged, so ids already in manifests, journals and caches keep their meaning.
        dim_at = next((i for i in range(2, len(parts)) if parts[i].isdigit()), None)
        if dim_at is None or not parts[0] or (params and not task):
            raise ValueError(f"not an embedding space id: {space_id!r} "
                             "(expected backend/model/dimension[/variant][;task=NAME])")
        return cls(parts[0], "/".join(parts[1:dim_at]), int(parts[dim_at]), "/".join(parts[dim_at + 1:]), task)

    def with_task(self, task: str | None) -> "EmbeddingSpace":
        """The same space, recording ``task``."""
        return replace(self, task=task or "")

    def require_same(self, other: "EmbeddingSpace", what: str = "vectors") -> None:
        """Raise :class:`EmbeddingSpaceMismatchError` unless ``other`` is this space."""
        if other != self:  # the task is not compared (see the class docstring)
            raise EmbeddingSpaceMismatchError(
                f"{what} are in embedding space {other.id!r}, expected {self.id!r}; "
                "vectors from different models, backends or dimensions are not comparable"
            )

    def __str__(self) -> str:
        return self.id


@dataclass
class VideoEmbedding:
    """One embedded video segment, as vision_models returns it."""

    start_offset_sec: float
    end_offset_sec: float
    embedding: list[float]


@dataclass
class MultiModalEmbeddingResponse:
    """The answer to one ``get_embeddings`` call (the vision_models attribute names), or to
    one content request (``content_embedding``: all parts in one vector)."""

    image_embedding: list[float] | None = None
    text_embedding: list[float] | None = None
    video_embeddings: list[VideoEmbedding] = field(default_factory=list)
    content_embedding: list[float] | None = None
    space: EmbeddingSpace | None = None
    _prediction_response: Any = field(default=None, repr=False, compare=False)

    def as_array(self, which: str) -> np.ndarray:
        """``image``, ``text``, ``content`` or ``video`` (segments x dimension) as float32."""
        if which == "video":
            return np.asarray([v.embedding for v in self.video_embeddings], dtype=np.float32)
        vec = getattr(self, f"{which}_embedding")
        if vec is None:
            raise ValueError(f"this response has no {which} embedding")
        return np.asarray(vec, dtype=np.float32)


def _every(index: Any) -> bool:
    """Whether ``index`` (of the columns) keeps them all, in order."""
    return index is Ellipsis or (isinstance(index, slice) and index == slice(None))


def _same_axis(axis1: Any = 0, axis2: Any = 1, **_: Any) -> bool:
    """Whether two axes of a 2-D array are one (-2 is 0, -1 is 1)."""
    return isinstance(axis1, int) and isinstance(axis2, int) and axis1 % 2 == axis2 % 2


class Embeddings(np.ndarray):
    """A float32 (n, dimension) array that knows its :class:`EmbeddingSpace`.

    Rows whose input failed are NaN; ``errors[i]`` holds that input's typed error and ``ok`` is
    the mask of good rows. Slicing keeps ``space``; arithmetic results are plain arrays.
    """

    space: EmbeddingSpace | None
    errors: list[VertexMMError | None]

    def __new__(
        cls,
        vectors: np.ndarray | Sequence[Sequence[float]],
        space: EmbeddingSpace | None,
        errors: Sequence[VertexMMError | None] | None = None,
    ) -> "Embeddings":
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, space.dimension if space else 0)
        if arr.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (n, dimension), got shape {arr.shape}")
        if space is not None and arr.shape[1] != space.dimension:
            raise ValueError(f"vectors have {arr.shape[1]} columns but space {space.id} has dimension {space.dimension}")
        obj = arr.view(cls)
        obj.space = space
        obj.errors = list(errors) if errors is not None else [None] * arr.shape[0]
        if len(obj.errors) != arr.shape[0]:
            raise ValueError("errors must have one entry per row")
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        space = getattr(obj, "space", None)
        self.space = space if space is not None and self.ndim == 2 and self.shape[1] == space.dimension else None
        errors = getattr(obj, "errors", None)
        rows = self.shape[0] if self.ndim else 0
        self.errors = errors if errors is not None and len(errors) == rows else [None] * rows

    def __getitem__(self, key: Any) -> Any:
        out = super().__getitem__(key)
        if isinstance(out, Embeddings):
            keys = key if isinstance(key, tuple) else (key,)
            # A new axis (None) shifts the others: the key's first item no longer picks the rows.
            if out.ndim != 2 or self.ndim != 2 or any(k is None for k in keys):
                return np.asarray(out)
            if not keys:  # e[()] is e[...]: every row, as it was
                return out
            picked = np.arange(self.shape[0])[keys[0]]
            if picked.ndim == 2 and picked.shape[1] == 1:
                picked = picked[:, 0]  # a column of rows broadcast along axis 1: row i is one input row
            elif picked.ndim > 1:  # the rows run along axis 1 too: an output row mixes input rows
                return np.asarray(out)
            rows = np.ravel(picked)
            if rows.size != out.shape[0]:  # rows that are not the key's pick of this set's rows
                return np.asarray(out)
            out.errors = [self.errors[int(i)] for i in rows]
            if out.shape[1] != self.shape[1] or (len(keys) > 1 and not _every(keys[1])):
                out.space = None  # columns picked or moved: no longer vectors of the space
        return out

    # numpy keeps the subclass through functions and methods that move rows, and
    # __array_finalize__ cannot see how they moved: it handed the errors of one row to another
    # (np.take, np.roll, a.take...). So the row-picking methods say which rows they took,
    # np.roll is remapped the same way, and any other numpy function gives a plain array, as
    # arithmetic does: no errors and no space rather than wrong ones.
    def take(self, indices: Any, axis: Any = None, out: Any = None, mode: Any = "raise") -> Any:
        result = super().take(indices, axis=axis, out=out, mode=mode)
        return self._rows_taken(result, axis, lambda rows: rows.take(indices, mode=mode))

    def compress(self, condition: Any, axis: Any = None, out: Any = None) -> Any:
        result = super().compress(condition, axis=axis, out=out)
        return self._rows_taken(result, axis, lambda rows: rows.compress(condition))

    def repeat(self, repeats: Any, axis: Any = None) -> Any:
        result = super().repeat(repeats, axis=axis)
        return self._rows_taken(result, axis, lambda rows: rows.repeat(repeats))

    def _rows_taken(self, result: Any, axis: Any, pick: Any) -> Any:
        """``result`` of a method that picked along ``axis``: with the errors of the rows it
        took when it picked rows, else a plain array."""
        if not isinstance(result, Embeddings):
            return result
        if self.ndim == 2 and result.ndim == 2 and axis in (0, -2):
            result.errors = [self.errors[int(i)] for i in pick(np.arange(self.shape[0]))]
            return result
        return np.asarray(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        result = super().__array_function__(func, types, args, kwargs)
        if func is np.roll:
            return self._rolled(result, args, kwargs)
        if func is np.swapaxes and _same_axis(*args[1:], **kwargs):
            return result  # a no-op swap: np.split and np.array_split take this way
        if not isinstance(result, Embeddings) or func in _ROWS_KNOWN or any(result is a for a in args):
            return result
        return np.asarray(result)

    def _rolled(self, result: Any, args: Any, kwargs: Any) -> Any:
        a = args[0] if args else kwargs.get("a")
        shift = args[1] if len(args) > 1 else kwargs.get("shift")
        axis = args[2] if len(args) > 2 else kwargs.get("axis")
        if a is self and self.ndim == 2 and axis in (0, -2) and np.ndim(shift) == 0:
            rows = np.roll(np.arange(self.shape[0]), shift)
            return Embeddings(result, self.space, [self.errors[int(i)] for i in rows])
        return np.asarray(result)

    def __array_wrap__(self, out_arr: Any, context: Any = None, return_scalar: bool = False) -> Any:
        # Arithmetic leaves the space: a sum of two embeddings is just numbers.
        return np.asarray(out_arr)[()] if return_scalar else np.asarray(out_arr)

    @property
    def ok(self) -> np.ndarray:
        return np.array([e is None for e in self.errors], dtype=bool)

    @property
    def failed(self) -> dict[int, VertexMMError]:
        return {i: e for i, e in enumerate(self.errors) if e is not None}

    def raise_for_errors(self) -> "Embeddings":
        """Raise the first input's error (with a count of all failures), else return self."""
        failed = self.failed
        if failed:
            i, err = next(iter(failed.items()))
            raise BatchError(
                f"{len(failed)} of {len(self)} inputs failed; first, input #{i}: {type(err).__name__}: {err}",
                result=self,
                errors=failed,
            ) from err
        return self

    def __reduce__(self) -> Any:
        return (Embeddings, (np.asarray(self), self.space, self.errors))

    def __repr__(self) -> str:
        space = self.space.id if self.space else None
        n_bad = sum(e is not None for e in self.errors)
        return f"Embeddings(shape={self.shape}, space={space!r}, failed={n_bad})"


#: numpy functions whose Embeddings result is right as it is: they reach the methods and the
#: indexing above (take, compress, repeat, flip, split), copy rows, or keep every row in place.
_ROWS_KNOWN = frozenset({
    np.take, np.compress, np.repeat, np.flip, np.flipud, np.copy, np.atleast_2d, np.nan_to_num,
    np.split, np.array_split, np.vsplit,
})
