"""How failed inputs surface through a framework: one exception, after every input was tried.

LangChain and LlamaIndex have no per-item error channel: ``embed_documents`` returns vectors or
raises. So a batch in which some inputs failed raises :class:`FailedInputsError` once the
whole batch has run (nothing is sent twice, the good vectors are kept on the error), and its
message names each failed input (index, a short label of the input, the typed error).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from ..errors import BatchError, VertexMMError
from ..media import Image
from ..results import Embeddings

__all__ = ["FailedInputsError", "describe_input", "first_error"]

#: Failures spelled out in the message; the rest are counted (all of them are in ``errors``).
_MAX_LISTED = 5
_MAX_LABEL = 60


class FailedInputsError(BatchError, ValueError):
    """Raised by an adapter's batch call when some inputs failed, after every input was tried.

    ``errors`` maps each failed input's index (in the list given to the call) to its typed
    error; ``result`` is the :class:`~vertex_mm.Embeddings` of the call, failed rows NaN. Also a
    ``ValueError``: what code written for LangChain and LlamaIndex embeddings catches.
    """

    @classmethod
    def from_result(cls, result: Embeddings, inputs: Sequence[Any]) -> "FailedInputsError":
        failed = result.failed
        listed = "; ".join(f"#{i} {describe_input(inputs[i])}: {type(err).__name__}: {err}"
                           for i, err in list(failed.items())[:_MAX_LISTED])
        more = f"; and {len(failed) - _MAX_LISTED} more (see .errors)" if len(failed) > _MAX_LISTED else ""
        message = f"{len(failed)} of {len(inputs)} inputs failed: {listed}{more}"
        return cls(message, result=result, errors=failed)


def describe_input(item: Any) -> str:
    """A short label that lets a person find the input: a path, a quoted text, a size."""
    if isinstance(item, str):
        return repr(item if len(item) <= _MAX_LABEL else item[: _MAX_LABEL - 3] + "...")
    if isinstance(item, os.PathLike):
        return repr(os.fspath(item))
    if isinstance(item, (bytes, bytearray, memoryview)):
        return f"<{len(item):,} bytes>"
    if isinstance(item, io.BytesIO):
        return f"<BytesIO of {len(item.getbuffer()):,} bytes>"
    if isinstance(item, Image):
        return repr(item.name)
    return f"<{type(item).__name__}>"


def first_error(result: Embeddings) -> VertexMMError | None:
    """The error of a one-input call, to raise as it is (its own type says what went wrong)."""
    return next(iter(result.failed.values()), None)
