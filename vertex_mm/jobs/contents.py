"""Contents from a job's source: one file = one content (an image, a PDF, an audio clip or a
video), for gemini-embedding-2 and the other backends that embed contents.

A local file is read (bounded) and its kind decided from its bytes, not its name, so a PDF
named ``.jpg`` is still a PDF and a text file named ``.pdf`` is a per-item error. A ``gs://``
object is not downloaded: its kind comes from its name, and the service reads the bytes.
"""

from __future__ import annotations

import pathlib
from typing import Any

from ..content import Part, as_part
from ..errors import UnsupportedInputError
from ..limits import (
    AUDIO_MIME_TYPES,
    AUDIO_SUFFIXES,
    IMAGE_MIME_TYPES,
    MEDIA_SUFFIXES,
    PDF_SUFFIXES,
    VIDEO_MIME_TYPES,
    VIDEO_SUFFIXES,
    format_for_suffix,
    image_suffixes,
)
from ..media import Audio, Document, Image, Video
from .sources import SourceItem, image_extensions_for, resolve_location

__all__ = ["CONTENT_EXTENSIONS", "content_extensions_for", "extensions_for", "load_content"]

#: File name endings of every content any model may take: images, PDFs, audio, video. A job
#: takes only its model's own (:func:`content_extensions_for`).
CONTENT_EXTENSIONS = MEDIA_SUFFIXES


def content_extensions_for(embedder: Any) -> frozenset[str]:
    """The file endings of the contents ``embedder``'s model reads (gemini-embedding-2: JPEG,
    PNG, WebP, BMP, HEIC, HEIF, AVIF, PDF, MP3, WAV, MP4, MOV), so a folder walk lists no file
    the model would refuse for its format: a GIF or a WebM clip was picked up, failed, and
    failed again on every rerun. :data:`CONTENT_EXTENSIONS` when the model's limits are unknown."""
    content = getattr(getattr(embedder, "content_limits", None), "content", None)
    if content is None:
        return CONTENT_EXTENSIONS
    videos = frozenset(s for s in VIDEO_SUFFIXES if format_for_suffix(s, VIDEO_MIME_TYPES) in content.video_formats)
    audio = frozenset(s for s in AUDIO_SUFFIXES if format_for_suffix(s, AUDIO_MIME_TYPES) in content.audio_formats)
    documents = PDF_SUFFIXES if content.max_documents else frozenset()
    return image_suffixes(content.image_formats) | documents | audio | videos


def extensions_for(embedder: Any, *, contents: bool) -> frozenset[str]:
    """The one answer to "which files does this run take": the content files ``embedder``'s
    model reads (``contents=True``), else the image files it reads."""
    return content_extensions_for(embedder) if contents else image_extensions_for(embedder)


_KIND_BY_SUFFIX: tuple[tuple[frozenset[str], type[Image] | type[Document] | type[Audio] | type[Video]], ...] = (
    (image_suffixes(IMAGE_MIME_TYPES), Image), (PDF_SUFFIXES, Document), (AUDIO_SUFFIXES, Audio), (VIDEO_SUFFIXES, Video),
)


def load_content(item: SourceItem) -> tuple[Part, str]:
    """The item's content (one media part) and its content hash: ``sha256:…`` of a local
    file's bytes; for ``gs://`` the listing's hash, else ``uri:…``. Raises a typed
    :class:`~vertex_mm.errors.InputError` naming the file when it cannot be used."""
    location = resolve_location(item, "media")
    if location.startswith("gs://"):
        suffix = pathlib.PurePosixPath(location).suffix.lower()
        media_cls = next((cls for suffixes, cls in _KIND_BY_SUFFIX if suffix in suffixes), None)
        if media_cls is None:
            raise UnsupportedInputError(
                f"{item.id}: cannot tell the kind of a gs:// object from its name {suffix or '(no suffix)'!r}; "
                f"expected one of {' '.join(sorted(MEDIA_SUFFIXES))}", input_name=item.id)
        return media_cls(gcs_uri=location), item.content_hash or "uri:" + location
    part = as_part(pathlib.Path(location))
    assert not isinstance(part, str)  # a Path is never text
    part.name = item.id
    return part, "sha256:" + part.sha256()
