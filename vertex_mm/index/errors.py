"""Errors of every index kind (flat, FAISS, multi-vector, OCR-assisted), in the
:mod:`vertex_mm.errors` tree::

    VertexMMError
    ├── InputError (ValueError)
    │   ├── InvalidVectorError        NaN/inf/zero rows, a failed embedding, raw arrays without a space
    │   ├── DuplicateIdError          an id given twice, or ``add`` of an id already stored
    │   ├── InvalidFilterError (TypeError) a metadata filter that cannot be built or translated
    │   └── InvalidIndexArgumentError (TypeError) k, ids or metadata of the wrong type or length
    ├── EmbeddingSpaceMismatchError   (from vertex_mm.errors) vectors of another space
    └── VectorIndexError
        ├── UnknownIdError (KeyError) ``delete``/``get`` of an id the index does not hold
        ├── IndexKindError            a directory holds another kind of index than the one asked for
        ├── IndexNotFoundError (FileNotFoundError) no index folder at the path
        └── IndexCorruptedError       a saved index is truncated, altered or unreadable
            └── IndexVersionError     written by a newer format version, or an older one no longer read
"""

from __future__ import annotations

from ..errors import InputError, VertexMMError

__all__ = [
    "DuplicateIdError",
    "IndexCorruptedError",
    "IndexKindError",
    "IndexNotFoundError",
    "IndexVersionError",
    "InvalidFilterError",
    "InvalidIndexArgumentError",
    "InvalidVectorError",
    "UnknownIdError",
    "VectorIndexError",
]


class VectorIndexError(VertexMMError):
    """Base class of the index's own failures (not caused by one bad input)."""


class InvalidVectorError(InputError):
    """Raised when vectors cannot go into (or query) an index: a row failed to embed (NaN),
    holds inf, is all zeros, has the wrong shape, or carries no embedding space."""


class DuplicateIdError(InputError):
    """Raised when one call names an id twice, or ``add`` names an id already stored
    (``upsert`` replaces instead)."""


class InvalidFilterError(InputError, TypeError):
    """Raised when a :class:`~vertex_mm.index.Filter` clause is malformed (an unknown operator,
    a value that is not a finite number, tokens that are not a list) or has no Vector Search
    form. Also a ``ValueError`` and a ``TypeError``, the types these checks raised before."""


class InvalidIndexArgumentError(InputError, TypeError):
    """Raised when ``k``, ``ids`` or ``metadata`` of an index call has the wrong type or
    length (also a ``ValueError`` and a ``TypeError``, the types these checks raised before)."""


class UnknownIdError(VectorIndexError, KeyError):
    """Raised when ``delete`` or ``get`` names ids the index does not hold."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class IndexKindError(VectorIndexError):
    """Raised when a saved index is of another kind than the caller opens (a multi-vector page
    index given to ``vertex-mm search``, a flat index given to ``vertex-mm pages search``)."""


class IndexNotFoundError(VectorIndexError, FileNotFoundError):
    """Raised on load when no folder is at the path (also a ``FileNotFoundError``)."""


class IndexCorruptedError(VectorIndexError):
    """Raised on load when a saved index is missing a file, is truncated, fails a checksum or
    disagrees with its manifest: the index refuses to answer rather than answer wrongly."""


class IndexVersionError(IndexCorruptedError):
    """Raised when the manifest's format version is newer than this vertex-mm understands, or
    the directory holds a format this vertex-mm no longer reads (re-index it)."""
