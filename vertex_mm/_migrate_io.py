"""The file work of :mod:`vertex_mm.migrate`: where the new index may be written, how each source
is sent, and how the new index is built from the journal.

* :func:`output_paths` and :func:`check_out`: the new index never replaces the source, nor any index or file that is not
  this migration's own output (the journal beside it marks an output as ours: a finished or
  resumable run).
* :func:`build_request`: the request that embeds one item, and the journal key of what it
  read; :func:`vector_of` takes the item's vector from the answer.
* :func:`load_source`: each source as the kind it is (``vertex-mm embed --backend gemini``
  embeds PDFs, audio and video too): a local file's kind from its bytes, a ``gs://`` object's
  from its name, as ``vertex-mm embed`` decides it. A target that embeds images and text only
  (multimodalembedding@001) refuses the others, each one alone, naming its kind.
* :func:`load_source_image`: an image in a format the target model does not take, but that
  Pillow decodes (GIF: its first frame), is re-encoded as PNG (lossless).
* :func:`build_index`: the journal's vectors are streamed into one preallocated float32 array
  (one row per item), never parsed into Python lists all at once.
"""

from __future__ import annotations

import io
import os
import pathlib
import shutil
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._migrate_source import UNREADABLE, Item, bytes_key, item_key
from .content import Part, as_part
from .errors import ImageTooLargeError, InvalidDimensionError, InvalidImageError, OutputPathError, UnsupportedInputError
from .limits.formats import (
    AUDIO_SUFFIXES,
    IMAGE_MIME_TYPES,
    IMAGE_SNIFF_BYTES,
    PDF_SUFFIXES,
    VIDEO_SUFFIXES,
    image_suffixes,
    is_audio_only_mp4,
    mp4_index_boxes,
    pillow_decodes,
    sniff_image_format,
    sniff_media,
)
from .limits.models import ModelLimits
from .media import Audio, Document, Image, Video
from .pricing import content_tokens
from .results import Embeddings, EmbeddingSpace
from .wire import EmbedRequest

if TYPE_CHECKING:
    from .embedder import BaseEmbedder

__all__ = ["build_index", "build_request", "check_out", "default_dimension", "load_source", "load_source_image",
           "output_paths", "over_budget", "remove_stale_index", "source_kind", "token_budget", "vector_of"]

#: A ``gs://`` object's kind by its name, as ``vertex-mm embed`` reads a bucket (jobs.contents).
_KIND_BY_SUFFIX: tuple[tuple[frozenset[str], str], ...] = (
    (image_suffixes(IMAGE_MIME_TYPES), "image"), (PDF_SUFFIXES, "document"), (AUDIO_SUFFIXES, "audio"),
    (VIDEO_SUFFIXES, "video"),
)
_MEDIA: dict[str, type[Video] | type[Document] | type[Audio]] = {"video": Video, "document": Document, "audio": Audio}
_WHAT = {"video": "a video", "document": "a PDF", "audio": "an audio clip"}

# The modes PNG stores as they are; any other (CMYK, YCbCr, LAB, HSV, F) is converted first.
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


def check_out(source: pathlib.Path, out: pathlib.Path, journal: pathlib.Path) -> None:
    """Refuse (:class:`~vertex_mm.errors.OutputPathError`) an ``out`` that is the source, or that
    exists (an empty folder aside) without this migration's journal beside it; nothing is read
    or sent before."""
    if _same(source, out):
        raise OutputPathError(f"{out} is the source index; migrate writes a NEW index and only reads the old one "
                              f"(keep it to compare and to roll back): pass another --out, e.g. "
                              f"{out.with_name(out.stem + '-g2' + out.suffix)}", input_name=str(out))
    src, dst = source.resolve(), out.resolve()
    if src.is_dir() and (dst.is_relative_to(src) or src.is_relative_to(dst)):
        # The next save of the source (an atomic folder swap) would delete an index inside it.
        raise OutputPathError(f"{out} is inside the source index {source} (or holds it): saving either one replaces "
                              "its folder and would delete the other; pass an --out outside it", input_name=str(out))
    empty_folder = out.is_dir() and not out.is_symlink() and not any(out.iterdir())
    if (out.exists() or out.is_symlink()) and not empty_folder and not journal.exists():
        what = "a folder" if out.is_dir() else "a file"
        raise OutputPathError(f"{out} exists ({what}) and is not this migration's output (no {journal.name} beside "
                              "it); migrate never replaces it: pass a new --out, or delete or move it first if it "
                              "is meant to go", input_name=str(out))


def output_paths(source: str | os.PathLike[str], out: str | os.PathLike[str]) -> tuple[pathlib.Path, pathlib.Path]:
    """``(new index, its journal)`` for ``out``, refused (:class:`OutputPathError`) as
    :func:`~vertex_mm._migrate_io.check_out` says; nothing is written."""
    out_path = pathlib.Path(out).expanduser()
    if out_path.name in ("", ".", ".."):  # "." or "/": no name to put the journal beside
        out_path = out_path.resolve()
        if not out_path.name:
            raise OutputPathError(f"--out {out}: name a new index folder, not the file-system root", input_name=str(out))
    journal_path = out_path.with_name(out_path.name + ".journal.jsonl")
    check_out(pathlib.Path(source).expanduser(), out_path, journal_path)
    return out_path, journal_path


def default_dimension(embedder: BaseEmbedder, dimension: int | None, task: str | None,
                      journal: pathlib.Path) -> int | None:
    """The new index's dimension when ``dimension`` is not given: the one the journal of an
    earlier run of this migration recorded (a rerun resumes in its space, whatever an earlier
    release chose as its default), else, without a task, the dimension plain text queries are
    embedded at (the local and vertex backends: 1408, where the content path's default is
    3072), else the content path's default. Any dimension the content path takes is accepted:
    ``vertex-mm search`` embeds queries for such an index through the content path too
    (:func:`~vertex_mm.index.build.embed_query`)."""
    if dimension is not None:
        return dimension
    recorded = _journal_dimension(journal)
    if recorded is not None:
        return recorded
    if task is None:
        try:
            return embedder.space(None).dimension
        except InvalidDimensionError:  # a backend whose text path has no default of its own
            return None
    return None


def _journal_dimension(journal: pathlib.Path) -> int | None:
    """The dimension of the first record of ``journal`` that names its space, or None."""
    from .jobs import read_journal

    if not journal.exists():
        return None
    for record in read_journal(journal):
        space = record.get("space")
        if isinstance(space, str) and space:
            return EmbeddingSpace.from_id(space).dimension
    return None


def _same(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return a.resolve() == b.resolve()


def build_request(embedder: BaseEmbedder, item: Item, space: EmbeddingSpace,
                  task: str | None) -> tuple[EmbedRequest, str | None, str]:
    """The request that embeds ``item`` (its source read as the kind it is: an image, converted
    to PNG when the target does not take its format, a PDF, an audio clip or a video; see
    :func:`~vertex_mm._migrate_io.load_source`), the format it was converted from (None: sent as
    it is), and the journal key of what was read (:func:`~vertex_mm._migrate_source.item_key`).
    Raises the item's own :attr:`~vertex_mm._migrate_source.Item.problem`, before anything is read."""
    if item.problem is not None:
        raise item.problem
    content: Any = item.text
    converted = None
    key = item_key(item) if item.location is None or item.location.startswith("gs://") else UNREADABLE
    if item.location is not None:
        content, converted, raw = load_source(item.location, embedder.content_limits, embedder.model)
        if raw is not None:
            key = bytes_key(raw)
    request = embedder.build_content_request(content, dimension=space.dimension, task=task, key=item.id)
    return request, converted, key


def vector_of(item: Item, result: Any) -> list[float] | None:
    """The vector of ``item`` in the service's answer: a content's, else the field of the
    item's own kind (multimodalembedding@001 answers a text in ``text_embedding``), never the
    other kind's."""
    own = result.text_embedding if item.location is None else result.image_embedding
    vector: list[float] | None = result.content_embedding if result.content_embedding is not None else own
    return vector


def token_budget(embedder: BaseEmbedder) -> int | None:
    """The tokens one content may hold before the service cuts it; None: no such budget
    (multimodalembedding@001, which refuses what is too long instead)."""
    limits = embedder.content_limits
    return limits.content.max_tokens if limits is not None and limits.content is not None else None


def over_budget(embedder: BaseEmbedder, request: EmbedRequest) -> int | None:
    """The estimated tokens of a content over the target's budget (the service embeds its
    first ``max_tokens`` and drops the rest, without an error); None when within it."""
    budget = token_budget(embedder)
    if budget is None or request.content is None:
        return None
    tokens = content_tokens(request)
    return tokens if tokens > budget else None


def source_kind(location: str) -> str | None:
    """``image``, ``document``, ``audio`` or ``video``: a local file's from its first bytes, a
    ``gs://`` object's (not downloaded) from its name; None when neither tells."""
    if location.startswith("gs://"):
        suffix = pathlib.PurePosixPath(location).suffix.lower()
        return next((kind for suffixes, kind in _KIND_BY_SUFFIX if suffix in suffixes), None)
    try:
        with open(location, "rb") as f:
            head = f.read(1024)
            found = sniff_media(head)
            if found in (("video", "MP4"), ("video", "MOV")):
                # An MP4 of sound only is audio (as_part sends it as Audio), which its tracks
                # tell, not its first bytes: read its index (ftyp, moov), seeking past the media.
                f.seek(0)
                if is_audio_only_mp4(mp4_index_boxes(f, max_bytes=_MAX_MP4_INDEX_BYTES)):
                    return "audio"
    except (OSError, ValueError):  # read again where it is sent, and refused there with a typed error
        return None
    return found[0] if found is not None else None


#: The largest ``moov`` (an MP4's index) :func:`source_kind` reads: an hour of video has a few MB.
_MAX_MP4_INDEX_BYTES = 64 * 1024 * 1024


def load_source(location: str, limits: ModelLimits | None, model: str) -> tuple[Part, str | None, bytes | None]:
    """The part that embeds the source at ``location`` for a target whose content limits are
    ``limits`` (None: it embeds images and text only), the image format it was converted from
    (None: sent as it is), and the file's bytes as read (None for ``gs://``).

    An image, or a file no sniffer recognises (refused as an image, naming the formats), goes
    through :func:`load_source_image`. A PDF, audio clip or video is sent as itself to a target
    that takes contents (its checks, such as a video's length, are the request's), and is an
    :class:`~vertex_mm.errors.UnsupportedInputError` naming its kind for one that does not."""
    kind = source_kind(location)
    if kind is None or kind == "image":
        formats = limits.image_formats if limits is not None else None
        return load_source_image(location, formats, limits.max_image_pixels if limits is not None else None)
    if limits is None:
        raise UnsupportedInputError(
            f"{location} is {_WHAT[kind]}; {model} embeds images and text only, so it cannot be migrated to it: "
            "migrate it with --backend gemini (gemini-embedding-2 embeds PDFs, audio and video), or leave it out",
            input_name=location)
    if location.startswith("gs://"):
        return _MEDIA[kind](gcs_uri=location), None, None
    part = as_part(pathlib.Path(location))  # read (bounded) and sniffed again: what is sent is what was read
    data = part.data if not isinstance(part, str) else None
    return part, None, data


def load_source_image(location: str, formats: frozenset[str] | None,
                      max_pixels: int | None = None) -> tuple[Image, str | None, bytes | None]:
    """The image at ``location``, the format it was converted from (None: sent as it is), and
    the file's bytes as read (None for a ``gs://`` image).

    A local image whose format is not in ``formats`` (the target model's) but that Pillow
    decodes is re-encoded as PNG, its first frame for an animation; anything else is sent as
    it is, so the target's own checks name what is wrong with it. An image over ``max_pixels``
    (the target's limit) is refused from its header, before a frame is decoded. A ``gs://``
    image has no bytes here and is never converted."""
    image = Image.load_from_file(location)
    data = image.data
    if data is None or formats is None:
        return image, None, data
    fmt = sniff_image_format(bytes(data[:IMAGE_SNIFF_BYTES]))
    if fmt is None or fmt in formats or not pillow_decodes(fmt):
        return image, None, data
    return Image(image_bytes=_as_png(data, location, max_pixels), name=location), fmt, data


def _as_png(data: bytes, name: str, max_pixels: int | None = None) -> bytes:
    from PIL import Image as PILImage
    from PIL import ImageOps

    try:
        with warnings.catch_warnings():  # the size is checked here, against the target's own limit
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            im = PILImage.open(io.BytesIO(data))  # reads the header only
        with im:
            if max_pixels is not None and im.width * im.height > max_pixels:
                raise ImageTooLargeError(f"{name}: image is {im.width}x{im.height} = {im.width * im.height:,} pixels; "
                                         f"the limit is {max_pixels:,} pixels", input_name=name)
            im.seek(0)
            # The pixels as the photo is shown: an EXIF orientation (a phone's sideways photo) is
            # applied, since it would not survive as PNG metadata every reader honours; the
            # colour profile is kept.
            frame: Any = ImageOps.exif_transpose(im)
            profile = im.info.get("icc_profile")
            if frame.mode not in _PNG_MODES:
                alpha = frame.mode.endswith("A") or "transparency" in frame.info
                frame = frame.convert("RGBA" if alpha else "RGB")
                profile = None  # a CMYK (or LAB ...) profile does not describe the converted pixels
            out = io.BytesIO()
            frame.save(out, "PNG", icc_profile=profile)
            return out.getvalue()
    except ImageTooLargeError:
        raise
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise InvalidImageError(f"{name}: could not be re-encoded as PNG for the target model ({exc})",
                                input_name=name) from exc


def build_index(ids: Sequence[str], metadata: Sequence[dict[str, Any]], journal: pathlib.Path,
                space: EmbeddingSpace, kind: str,
                accept: Mapping[str, Collection[str]] | None = None) -> tuple[Any, int]:
    """A new index of the items of ``ids`` that the journal holds (in ``ids`` order, the last
    record of an id wins), and how many rows it has. With ``accept``, a record counts only when
    its ``content_hash`` is one of its id's accepted keys (an id not in it gets no row). Memory:
    one float32 row per item."""
    from .index import IndexConfig, create_index
    from .jobs import read_journal

    position = {item_id: n for n, item_id in enumerate(ids)}
    vectors = np.zeros((len(ids), space.dimension), dtype=np.float32)
    have = np.zeros(len(ids), dtype=bool)
    for record in read_journal(journal):
        n = position.get(record["id"])
        vec = record["embedding"]
        if n is None or len(vec) != space.dimension:
            continue
        if accept is not None and record.get("content_hash") not in accept.get(record["id"], ()):
            continue
        vectors[n] = vec
        have[n] = True
    index = create_index(IndexConfig(space), kind)
    rows = np.flatnonzero(have)
    if len(rows):
        if len(rows) < len(ids):
            vectors = vectors[rows]
        keep = [int(n) for n in rows]
        index.add([ids[n] for n in keep], Embeddings(vectors, space), [metadata[n] for n in keep])
    return index, len(rows)


def remove_stale_index(path: pathlib.Path) -> None:
    """Remove an index an earlier run of this migration wrote at ``path``: renamed aside first
    (one atomic step), so a crash leaves either the old index or none, never half of one; the
    journal keeps every vector it was written from. When ``path`` is a symbolic link (the index
    moved to another disk and linked back), the folder it points to is removed and the link
    stays: the next save writes through it again, as it did."""
    target = pathlib.Path(os.path.realpath(path))
    aside = target.with_name(f".{target.name}.stale-{os.getpid()}")
    os.replace(target, aside)
    shutil.rmtree(aside, ignore_errors=True)
