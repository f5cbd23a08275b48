"""The file work of :mod:`vertex_mm.migrate`: where the new index may be written, how a source
image the target model does not take is sent, and how the new index is built from the journal.

* :func:`check_out`: the new index never replaces the source, nor any index or file that is not
  this migration's own output (the journal beside it marks an output as ours: a finished or
  resumable run).
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
from typing import Any

import numpy as np

from .errors import ImageTooLargeError, InvalidImageError, OutputPathError
from .limits.formats import IMAGE_SNIFF_BYTES, pillow_decodes, sniff_image_format
from .media import Image
from .results import Embeddings, EmbeddingSpace

__all__ = ["build_index", "check_out", "load_source_image", "remove_stale_index"]

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


def _same(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return a.resolve() == b.resolve()


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
    journal keeps every vector it was written from."""
    aside = path.with_name(f".{path.name}.stale-{os.getpid()}")
    os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)
