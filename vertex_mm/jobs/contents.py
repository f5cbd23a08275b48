"""Contents from a job's source: one file = one content (an image, a PDF, an audio clip or a
video), for gemini-embedding-2 and the other backends that embed contents.

A local file is read (bounded) and its kind decided from its bytes, not its name, so a PDF
named ``.jpg`` is still a PDF and a text file named ``.pdf`` is a per-item error. A ``gs://``
object is not downloaded: its kind comes from its name, and the service reads the bytes.
"""

from __future__ import annotations

import pathlib

from ..content import Part, as_part
from ..errors import UnsupportedInputError
from ..limits import AUDIO_SUFFIXES, IMAGE_MIME_TYPES, MEDIA_SUFFIXES, PDF_SUFFIXES, VIDEO_SUFFIXES, image_suffixes
from ..media import Audio, Document, Image, Video
from .sources import SourceItem, resolve_location

__all__ = ["CONTENT_EXTENSIONS", "load_content"]

#: File name endings taken from folders and buckets for contents: images, PDFs, audio, video.
CONTENT_EXTENSIONS = MEDIA_SUFFIXES

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
