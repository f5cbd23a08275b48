"""Where a job's inputs come from: a local folder, a list file, or ``gs://bucket/prefix``.

Each source yields :class:`SourceItem` values in a stable order, lazily (a bucket of 10^7
objects is listed page by page). An item's ``id`` is what the output is keyed by:

- folder: the path relative to the folder, with ``/`` separators (``cats/01.jpg``);
- list file: the line as written (a local path, relative to the list file's folder, or a
  ``gs://`` URI); blank lines and ``#`` comments are skipped;
- a media file (``photo.jpg``): that one file, keyed by its name. An ``https://storage.googleapis.com/``
  URL is read as its ``gs://`` URI; any other web URL is that input's
  :class:`~vertex_mm.errors.InvalidURIError` (web URLs are not fetched);
- ``gs://bucket/prefix``: the object's ``gs://`` URI. A prefix without a trailing ``/`` is a
  folder where one of that name exists (``gs://b/photos`` is ``photos/``, not ``photos-old/``
  too), and a name prefix otherwise. Its content hash comes from the listing
  (the object's MD5, else its CRC32C), so nothing is downloaded: Vertex AI reads the object.

A folder or bucket gives only the files of the formats taken (``extensions``); each other
file (hidden files and a folder's hidden sub-folders aside) is passed to ``passed_over``, so a run can say how many it left out
instead of leaving them out silently.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..gcs import check_gs_prefix, did_you_mean_gs, make_client, storage_error
from ..limits import IMAGE_SUFFIXES, image_suffixes
from ..limits.formats import MEDIA_SUFFIXES
from ..media import Image, _normalise_location, read_input_file

__all__ = ["IMAGE_EXTENSIONS", "LeftOut", "SourceItem", "image_extensions_for", "iter_source", "load_item", "resolve_location"]

#: File name endings taken from folders and buckets when the model is not known: the formats
#: every model but gemini-embedding-2 takes too (:func:`image_extensions_for` gives a model's own).
IMAGE_EXTENSIONS = IMAGE_SUFFIXES  # the old name


def image_extensions_for(embedder: Any) -> frozenset[str]:
    """The image file endings ``embedder``'s model takes (gemini-embedding-2: HEIC, HEIF and
    AVIF too), so a folder walk lists no file the model would refuse for its format."""
    limits = getattr(embedder, "limits", None)
    formats = getattr(limits, "image_formats", None)
    return image_suffixes(formats) if formats else IMAGE_EXTENSIONS


@dataclass
class LeftOut:
    """The files of a folder or bucket left out for their format (pass it as ``passed_over``):
    counted, the first few named, so a run or a dry run can say so."""

    count: int = 0
    first: list[str] = field(default_factory=list)
    quoted: int = 3

    def __call__(self, item_id: str) -> None:
        self.count += 1
        if len(self.first) < self.quoted:
            self.first.append(item_id)

    def describe(self) -> str:
        """``"3 files of other formats left out (a.tif, b.txt, c.doc)"``; empty when none were."""
        if not self.count:
            return ""
        more = ", ..." if self.count > len(self.first) else ""
        what = "file of another format" if self.count == 1 else "files of other formats"
        return f"{self.count} {what} left out ({', '.join(self.first)}{more})"


@dataclass(frozen=True)
class SourceItem:
    """One input of a job: ``id`` keys the output, ``location`` is a path or ``gs://`` URI,
    ``content_hash`` is known from a listing (GCS) or None until the bytes are read."""

    id: str
    location: str
    content_hash: str | None = None


def iter_source(source: str | os.PathLike[str], *, storage_client: Any = None,
                extensions: frozenset[str] = IMAGE_EXTENSIONS,
                passed_over: Callable[[str], None] | None = None) -> Iterator[SourceItem]:
    """The items of ``source``: a folder (recursive, sorted), a list file, or ``gs://bucket/prefix``.
    ``passed_over(id)`` is called, as the listing reaches it, for each file of a folder or bucket
    left out for its format (not for hidden files: ``.DS_Store`` is nobody's input)."""
    text = os.fspath(source)
    skip = passed_over or _ignore
    if text.startswith("gs://"):
        return _iter_gcs(text, storage_client, extensions, skip)
    path = pathlib.Path(text).expanduser()
    if path.is_dir():
        return _iter_folder(path, extensions, skip)
    if path.is_file():
        if path.suffix.lower() in extensions | MEDIA_SUFFIXES:  # `embed photo.jpg`: that one file, not a list
            return iter([SourceItem(path.name, str(path))])
        _check_list_file(path)  # now, not when first read: a bad SOURCE fails before OUT is made
        return _iter_list_file(path)
    raise InputError(f"{text}: no such folder or list file (SOURCE is a folder, a list file or gs://bucket/prefix)"
                     f"{did_you_mean_gs(text)}", input_name=text)


def _ignore(_: str) -> None:
    return None


def _iter_folder(root: pathlib.Path, extensions: frozenset[str], passed_over: Callable[[str], None]) -> Iterator[SourceItem]:
    # os.walk with sorted names: the same folder gives the same order on every run. Hidden
    # folders (.git, .thumbnails, .Trash) are not walked, as hidden files are not taken: a photo
    # folder under git reported .git/HEAD and the rest as "left out", and took .thumbnails' images.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = pathlib.Path(dirpath, name)
            if pathlib.PurePath(name).suffix.lower() in extensions:
                yield SourceItem(full.relative_to(root).as_posix(), str(full))
            else:
                passed_over(full.relative_to(root).as_posix())


def _check_list_file(path: pathlib.Path) -> None:
    with path.open("rb") as f:
        if b"\x00" in f.read(8192):
            raise InputError(f"{path}: not a list file (binary data); SOURCE is a folder, a text file of paths or "
                             "gs:// URIs (one a line), or gs://bucket/prefix", input_name=str(path))


def _iter_list_file(path: pathlib.Path) -> Iterator[SourceItem]:
    base = path.parent
    # utf-8-sig: Notepad's byte-order mark is not part of the first path. surrogateescape: a
    # line that is not UTF-8 (a Latin-1 file name) is that file's path, as a folder walk gives it.
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as lines:
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("gs://") or _is_web_url(line):
                yield SourceItem(line, line)  # a web URL is refused when loaded: one bad line is one failed input
            else:
                location = pathlib.Path(line).expanduser()
                yield SourceItem(line, str(location if location.is_absolute() else base / location))


def _iter_gcs(uri: str, client: Any, extensions: frozenset[str], passed_over: Callable[[str], None]) -> Iterator[SourceItem]:
    # Checked when the source is given, not when it is first listed: a bad bucket name or no
    # credentials fails before OUT is made.
    bucket, prefix = check_gs_prefix(uri, name="source")
    client = make_client(client, what=f"listing {uri}")
    return _list_gcs(uri, client, bucket, prefix, extensions, passed_over)


def _list_gcs(uri: str, client: Any, bucket: str, prefix: str, extensions: frozenset[str],
              passed_over: Callable[[str], None]) -> Iterator[SourceItem]:
    try:
        if prefix and not prefix.endswith("/") and _has_objects(client, bucket, prefix + "/"):
            # gs://b/photos is the folder photos/, as gcloud storage ls reads it: as a bare name
            # prefix it took photos-old/ and photos_backup/ too. Without such a folder it stays
            # a name prefix (gs://b/photos/2024- for the objects whose names start so).
            prefix += "/"
        for blob in client.list_blobs(bucket, prefix=prefix or None):
            name = blob.name
            if name.endswith("/"):
                continue
            if pathlib.PurePosixPath(name).suffix.lower() not in extensions:
                if not pathlib.PurePosixPath(name).name.startswith("."):
                    passed_over(f"gs://{bucket}/{name}")
                continue
            yield SourceItem(f"gs://{bucket}/{name}", f"gs://{bucket}/{name}", _blob_hash(blob))
    except Exception as exc:
        mapped = storage_error(exc, uri, what="listing")
        if mapped is None:
            raise
        raise mapped from exc


def _has_objects(client: Any, bucket: str, prefix: str) -> bool:
    return next(iter(client.list_blobs(bucket, prefix=prefix, max_results=1)), None) is not None


def _blob_hash(blob: Any) -> str | None:
    if getattr(blob, "md5_hash", None):
        return f"md5:{blob.md5_hash}"
    if getattr(blob, "crc32c", None):
        return f"crc32c:{blob.crc32c}"
    etag = getattr(blob, "etag", None)
    return f"etag:{etag}" if etag else None


def _is_web_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme.lower() in ("http", "https")


def resolve_location(item: SourceItem, kind: str) -> str:
    """Where ``item`` is read from: a local path or a ``gs://`` URI (an
    ``https://storage.googleapis.com/`` URL becomes its ``gs://`` URI); any other web URL is
    an :class:`~vertex_mm.errors.InvalidURIError`, as for ``Image.load_from_file``."""
    return _normalise_location(item.location, kind) if _is_web_url(item.location) else item.location


def load_item(item: SourceItem) -> tuple[Image, str]:
    """The item's image and its content hash (``sha256:…`` of the bytes for local files).

    Raises a typed :class:`~vertex_mm.errors.InputError` naming the file when it cannot be
    read (:class:`~vertex_mm.errors.InputNotFoundError`, ...) or is larger than an image may be
    (:class:`~vertex_mm.errors.ImageTooLargeError`, checked before reading: ``/dev/zero`` in a
    list file is refused after 20 MB, not read until memory runs out).
    """
    location = resolve_location(item, "image")
    if location.startswith("gs://"):
        return Image(gcs_uri=location), item.content_hash or "uri:" + location
    data = read_input_file(location, kind="image", max_bytes=Image._max_file_bytes)
    return Image(image_bytes=data, name=item.id), "sha256:" + hashlib.sha256(data).hexdigest()
