"""What flows through the Beam transforms, with no Beam in sight: inputs, output rows, dead letters.

An input element is any of::

    "gs://bucket/cat.jpg"                      a Cloud Storage URI (sent as a URI, never downloaded)
    "/data/cat.jpg" or pathlib.Path            a local (worker-visible) path, read on the worker
    b"\\xff\\xd8..."                             image bytes
    vertex_mm.Image(...)                       an Image object
    {"id": "cat-1", "image": ..., "metadata": {...}, ...}   a dict (``"text"`` for texts)

and, for contents (gemini-embedding-2: ordered parts, one vector; :class:`EmbedContents`), any
content part or a list of parts (``str`` is text; ``Image``, ``Video``, ``Document``,
``Audio``, ``pathlib.Path`` or bytes are media), or a dict with ``"content"`` (alias
``"parts"``).

A dict's content sits under ``"image"`` (alias ``"uri"``, ``"path"``, ``"bytes"``),
``"text"`` or ``"content"``. Its ``"metadata"`` dict is carried through unchanged; any other keys are merged
into the metadata too, so a BigQuery row such as ``{"id", "uri", "label"}`` works as it is.
Without an ``"id"`` the id is the URI, the path, the text itself, or ``sha256:`` plus the first
16 hex digits of the bytes' hash.

Every input leaves as exactly one of two rows:

* an **embedding row** ``{"id", "embedding", "embedding_space", "metadata"}``, or
* a **dead-letter row** ``{"id", "error_type", "error", "retryable", "status_code", "stage",
  "source", "metadata"}``, where ``stage`` says where it failed (``"input"``: the element
  could not be read as an input; ``"embed"``: the embedder returned a typed error for it;
  ``"batch"``: its whole batch failed with an unexpected exception).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..columns import vector_of
from ..errors import InputError, VertexMMError
from ..media import Audio, Document, Image, Video
from ..results import EmbeddingSpace, MultiModalEmbeddingResponse

__all__ = [
    "DEAD_LETTER_FIELDS",
    "EMBEDDING_FIELDS",
    "EmbedInput",
    "Kind",
    "dead_letter_row",
    "describe",
    "embedding_row",
    "fallback_id",
    "to_embed_input",
]

Kind = Literal["image", "text", "content"]

#: The keys of an embedding row, in order.
EMBEDDING_FIELDS = ("id", "embedding", "embedding_space", "metadata")
#: The keys of a dead-letter row, in order.
DEAD_LETTER_FIELDS = ("id", "error_type", "error", "retryable", "status_code", "stage", "source", "metadata")

_IMAGE_KEYS = ("image", "uri", "path", "bytes")
_TEXT_KEYS = ("text",)
_CONTENT_KEYS = ("content", "parts")
_RESERVED = frozenset(("id", "metadata", *_IMAGE_KEYS, *_TEXT_KEYS, *_CONTENT_KEYS))
_MAX_SOURCE_CHARS = 200


@dataclass(frozen=True)
class EmbedInput:
    """One input, normalised: a stable ``id``, what to embed, and metadata to carry along.

    ``content`` is a path or ``gs://`` URI string, bytes or an :class:`~vertex_mm.Image` for
    images, and a string for texts. Files are read on the worker, when the request is built.
    """

    id: str
    kind: Kind
    content: Any
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def build(self, embedder: Any, dimension: int | None, task: str | None = None) -> Any:
        """This input's request for ``embedder`` (an ``EmbedRequest``); raises its typed error."""
        if self.kind == "content":
            return embedder.build_content_request(self.content, dimension=dimension, task=task, key=self.id)
        return embedder.build_request(**self.request(dimension))

    def request(self, dimension: int | None) -> dict[str, Any]:
        """The keyword arguments of ``BaseEmbedder.build_request`` for an image or text input."""
        if self.kind == "text":
            return {"contextual_text": self.content, "dimension": dimension, "key": self.id}
        content = self.content
        if isinstance(content, (bytes, bytearray, memoryview)):
            # Named after the id, so that a typed error says which input broke which limit.
            content = Image(image_bytes=bytes(content), name=self.id)
        return {"image": content, "dimension": dimension, "key": self.id}

    def source(self) -> str:
        """A short, loggable description of the content (never the bytes themselves)."""
        return describe(self.content)

    def num_bytes(self) -> int:
        """Rough payload size, for Beam's batch weighing and metrics. Never raises: Beam asks
        after the batch is embedded, and an error here failed the whole (billed) batch."""
        return _payload_bytes(self.content, self.kind)


def _payload_bytes(c: Any, kind: Kind) -> int:
    if isinstance(c, list):  # a content's parts, each by its own size (not the list's repr)
        return sum(_payload_bytes(part, "image" if isinstance(part, os.PathLike) else "text") for part in c)
    if isinstance(c, (bytes, bytearray, memoryview)):
        return len(c)
    if isinstance(c, (Image, Video, Document, Audio)):
        return len(c.data or b"") or len(c.gcs_uri or "")
    if (isinstance(c, os.PathLike) or (isinstance(c, str) and kind == "image")) and not str(c).startswith("gs://"):
        try:
            return os.path.getsize(c)
        except (OSError, ValueError):  # gone, or a name no file can have (a NUL byte)
            return 0
    return len(str(c).encode("utf-8", "surrogateescape"))


def describe(content: Any) -> str:
    """A short text for an input's content: its URI or path, or its size for bytes."""
    if isinstance(content, (bytes, bytearray, memoryview)):
        return f"<{len(content):,} bytes>"
    if isinstance(content, Image):
        return content.gcs_uri or content.name
    text = os.fspath(content) if isinstance(content, os.PathLike) else str(content)
    return text if len(text) <= _MAX_SOURCE_CHARS else text[: _MAX_SOURCE_CHARS - 1] + "…"


def _bytes_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def _content_id(content: Any, kind: Kind) -> str:
    if isinstance(content, list):
        return _parts_id(content)
    if isinstance(content, (bytes, bytearray, memoryview)):
        return _bytes_id(bytes(content))
    if isinstance(content, (Image, Video, Document, Audio)):
        if content.gcs_uri:
            return content.gcs_uri
        if content.name and not content.name.startswith("<"):
            return content.name
        return _bytes_id(content.data or b"")
    if isinstance(content, os.PathLike):
        return str(os.fspath(content))
    text = str(content)
    # A long text makes a poor id: its hash is stable and short (a content's text too).
    if kind == "image" or len(text) <= _MAX_SOURCE_CHARS:
        return text
    return _bytes_id(text.encode("utf-8", "surrogateescape"))


def fallback_id(element: Any) -> str:
    """An id for an element that could not be read as an input (for its dead-letter row)."""
    if isinstance(element, Mapping) and element.get("id") is not None:
        return str(element["id"])
    try:
        return _content_id(element, "image")[:_MAX_SOURCE_CHARS]
    except Exception:  # pragma: no cover - str() of a hostile object
        return f"<unidentifiable {type(element).__name__}>"


def _pick_content(element: Mapping[str, Any], kind: Kind) -> Any:
    keys = {"text": _TEXT_KEYS, "image": _IMAGE_KEYS, "content": _CONTENT_KEYS}[kind]
    present = [k for k in keys if element.get(k) is not None]
    if len(present) != 1:
        what = " or ".join(repr(k) for k in keys)
        found = f"found {present}" if present else f"keys are {sorted(element)}"
        raise InputError(f"an {kind} input dict needs exactly one of {what}; {found}", input_name=str(element.get("id")))
    return element[present[0]]


def _check_content(content: Any, kind: Kind, name: str) -> Any:
    if kind == "content":
        # Parts are coerced and checked when the request is built, on the worker.
        return list(content) if isinstance(content, tuple) else content
    if kind == "text":
        if not isinstance(content, str):
            raise InputError(f"{name}: a text input must be a str, got {type(content).__name__}", input_name=name)
        return content
    if isinstance(content, pathlib.PurePath):
        return os.fspath(content)
    if isinstance(content, (str, bytes, Image)):
        return content
    if isinstance(content, (bytearray, memoryview)):
        return bytes(content)
    raise InputError(
        f"{name}: cannot use {type(content).__name__} as an image; pass a gs:// URI, a path, bytes, an Image "
        "or a dict with an 'image' key",
        input_name=name,
    )


def to_embed_input(element: Any, kind: Kind) -> EmbedInput:
    """Normalise one element into an :class:`EmbedInput`; raise :class:`InputError` if it is
    not one of the accepted shapes (the transform turns that into a dead letter)."""
    if isinstance(element, EmbedInput):
        return element
    if isinstance(element, Mapping):
        content = _pick_content(element, kind)
        if not isinstance(element.get("metadata") or {}, Mapping):
            raise InputError(f"'metadata' must be a dict, got {type(element['metadata']).__name__}",
                             input_name=str(element.get("id")))
        metadata = dict(element.get("metadata") or {})
        metadata.update({k: v for k, v in element.items() if k not in _RESERVED})
        raw_id = element.get("id")
        item_id = str(raw_id) if raw_id is not None else _content_id(content, kind)
        return EmbedInput(item_id, kind, _check_content(content, kind, item_id), metadata)
    name = fallback_id(element)
    content = _check_content(element, kind, name)
    return EmbedInput(_content_id(content, kind), kind, content, {})


def _parts_id(parts: list[Any]) -> str:
    # Each part as its kind and its length-prefixed label: a text "cat.jpg" and Path("cat.jpg"),
    # or ["a\0b"] and ["a", "b"], shared an id, and a sink keyed on ids kept one of them.
    digest = hashlib.sha256()
    for part in parts:
        label = _content_id(part, "text").encode("utf-8", "surrogateescape")
        kind = type(part).__name__ if isinstance(part, (Image, Video, Document, Audio)) else \
            "path" if isinstance(part, os.PathLike) else "bytes" if isinstance(part, (bytes, bytearray, memoryview)) else "text"
        digest.update(f"{kind}:{len(label)}:".encode() + label)
    return "content:" + digest.hexdigest()[:16]


def embedding_row(item: EmbedInput, response: MultiModalEmbeddingResponse, space: EmbeddingSpace | str) -> dict[str, Any]:
    """The output row of one embedded input (``space``: the space, or its id, the batch was
    asked in; the response's own wins)."""
    vector = vector_of(response, item.kind)
    if vector is None:
        raise ValueError(f"{item.id}: the response has no {item.kind} embedding")
    space_id = response.space.id if response.space is not None else space if isinstance(space, str) else space.id
    return {
        "id": item.id,
        "embedding": [float(x) for x in vector],
        "embedding_space": space_id,
        "metadata": dict(item.metadata),
    }


def dead_letter_row(
    item_id: str,
    error: BaseException | str,
    *,
    stage: str,
    source: str = "",
    metadata: Mapping[str, Any] | None = None,
    error_type: str | None = None,
    retryable: bool | None = None,
) -> dict[str, Any]:
    """The dead-letter row of one input that produced no embedding (``retryable``: whether a
    later attempt could succeed, when ``error`` is only a description; else its own)."""
    if isinstance(error, BaseException):
        message = str(error) or repr(error)
        kind = error_type or type(error).__name__
        retryable = bool(getattr(error, "retryable", False)) if isinstance(error, VertexMMError) else False
        status = getattr(error, "status_code", None)
    else:
        message, kind, status = error, error_type or "Exception", None
        retryable = bool(retryable)
    return {
        "id": item_id,
        "error_type": kind,
        "error": message,
        "retryable": retryable,
        "status_code": int(status) if status else None,
        "stage": stage,
        "source": source,
        "metadata": dict(metadata or {}),
    }
