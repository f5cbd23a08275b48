"""What embedders return: responses with the vision_models shape, and vector sets that carry
their embedding space so that spaces never mix silently."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import BatchError, EmbeddingSpaceMismatchError, VertexMMError

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

    @property
    def id(self) -> str:
        base = f"{self.backend}/{self.model}/{self.dimension}"
        base = f"{base}/{self.variant}" if self.variant else base
        return f"{base};task={self.task}" if self.task else base

    @classmethod
    def from_id(cls, space_id: str) -> "EmbeddingSpace":
        base, _, params = space_id.partition(";")
        task = params[len("task="):] if params.startswith("task=") else ""
        parts = base.split("/", 3)
        if len(parts) < 3 or not parts[2].isdigit() or (params and not task):
            raise ValueError(f"not an embedding space id: {space_id!r} "
                             "(expected backend/model/dimension[/variant][;task=NAME])")
        return cls(parts[0], parts[1], int(parts[2]), parts[3] if len(parts) == 4 else "", task)

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
            if out.ndim == 2 and self.ndim == 2:
                rows = np.arange(self.shape[0])[key if not isinstance(key, tuple) else key[0]]
                rows = np.atleast_1d(rows)
                out.errors = [self.errors[int(i)] for i in rows]
                if out.shape[1] != self.shape[1]:
                    out.space = None
            else:
                return np.asarray(out)
        return out

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
