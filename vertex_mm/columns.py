"""Columns: many inputs of one kind (images, texts or contents) as one ``Embeddings`` array.

:class:`~vertex_mm.embedder.BaseEmbedder` turns each ``embed_images`` / ``embed_texts`` /
``embed_contents`` call into a :class:`Column` (how to build one input's request, which
vector of the response to keep, the space) and runs it here: built request by request (a bad
input becomes that row's typed error, the rest goes on), through the batch engine, and
assembled in input order. One row, one vector or one error; nothing else leaves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import InputError, InvalidImageError, VertexMMError
from .results import Embeddings, EmbeddingSpace, MultiModalEmbeddingResponse
from .wire import EmbedRequest

__all__ = ["Column", "ErrorMode", "ItemResult", "Kind", "as_batch", "assemble", "check_error_mode", "coerce_input", "vector_of"]

ErrorMode = Literal["raise", "collect"]
ItemResult = MultiModalEmbeddingResponse | VertexMMError
Kind = Literal["image", "text", "content"]


@dataclass(frozen=True)
class Column:
    """One batch call: ``build(item, key)`` makes an input's request; ``kind`` says which
    vector of each response is kept; every row is in ``space``."""

    kind: Kind
    space: EmbeddingSpace
    build: Callable[[Any, str], EmbedRequest]

    def build_all(self, items: Sequence[Any]) -> list[EmbedRequest | VertexMMError]:
        """Every item's request, or its typed error (the rest of the column goes on)."""
        built: list[EmbedRequest | VertexMMError] = []
        for i, item in enumerate(items):
            try:
                built.append(self.build(item, str(i)))
            except VertexMMError as exc:
                built.append(exc)
        return built


def check_error_mode(errors: str) -> None:
    if errors not in ("raise", "collect"):
        raise InputError(f"errors must be 'raise' or 'collect', got {errors!r}", input_name="errors")


def vector_of(response: MultiModalEmbeddingResponse, kind: Kind) -> list[float] | None:
    """The vector of ``response`` a column of ``kind`` keeps (None when it has none)."""
    if kind == "image":
        return response.image_embedding
    if kind == "text":
        return response.text_embedding
    # A content; multimodalembedding@001 answers a one-part content with its image or text vector.
    for vec in (response.content_embedding, response.image_embedding, response.text_embedding):
        if vec is not None:
            return vec
    return None


def assemble(results: Sequence[ItemResult], kind: Kind, space: EmbeddingSpace, errors: ErrorMode) -> Embeddings:
    """Results in input order into an ``Embeddings``: failed rows NaN with their error."""
    vecs = np.full((len(results), space.dimension), np.nan, dtype=np.float32)
    errs: list[VertexMMError | None] = []
    for i, res in enumerate(results):
        if isinstance(res, VertexMMError):
            errs.append(res)
            continue
        vec = vector_of(res, kind)
        if vec is None or len(vec) != space.dimension:
            got = "no vector" if vec is None else f"{len(vec)} values"
            errs.append(VertexMMError(f"input #{i}: the backend returned {got} for a {kind} "
                                      f"(expected {space.dimension})"))
            continue
        vecs[i] = vec
        errs.append(None)
    out = Embeddings(vecs, space, errs)
    return out.raise_for_errors() if errors == "raise" else out


def coerce_input(fn: Callable[[Any], Any], x: Any, what: str) -> Any:
    """``fn(x)`` (a media coercion), with any reading failure as a typed :class:`InputError`."""
    if x is None:
        return None
    try:
        return fn(x)
    except VertexMMError:
        raise
    except (OSError, TypeError, ValueError) as exc:
        name = os.fspath(x) if isinstance(x, (str, os.PathLike)) else type(x).__name__
        cls = InvalidImageError if what == "image" else InputError
        raise cls(f"{name}: cannot use it as {what}: {exc}", input_name=str(name)) from exc


#: One item where a batch call wants many: iterating it would embed its characters, bytes or keys.
_SINGLE_ITEMS = (str, bytes, bytearray, memoryview, os.PathLike, dict, EmbedRequest)


def as_batch(items: Iterable[Any], *, call: str, what: str) -> list[Any]:
    """``items`` as a list, refusing one item given where a batch call takes many: a string
    would be embedded character by character, bytes byte by byte, a dict key by key. Raises
    :class:`InputError` naming the call, before anything is sent."""
    if isinstance(items, _SINGLE_ITEMS) or not isinstance(items, Iterable):
        shown = repr(items) if isinstance(items, str | os.PathLike) else type(items).__name__
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InputError(f"{call}() takes a list of {what}, got one {type(items).__name__} ({shown}); "
                         f"pass [item] for one, or use the single-item call", input_name=what)
    return list(items)
