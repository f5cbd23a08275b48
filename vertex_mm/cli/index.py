"""``vertex-mm index``: embed every photo of a folder into a saved, searchable index.

    vertex-mm index photos/ --out photos.idx                       # offline, local model
    vertex-mm index photos/ --out photos.idx --update               # add new or changed photos, drop deleted ones
    vertex-mm index photos/ --out photos.idx --backend vertex --project my-proj --dimension 512
    vertex-mm index photos/ --out photos.idx --kind faiss           # HNSW, for very large folders

The folder is searched recursively for the photos the model reads: .jpg/.jpeg/.png/.gif/.bmp/.webp
(local, vertex), .jpg/.jpeg/.png/.webp/.bmp/.heic/.heif/.avif (gemini: no GIF). Ids are paths relative
to the folder. The index is one directory (vectors.npy, items.jsonl, manifest.json) that
``vertex-mm search`` and ``vertex-mm serve`` open; its manifest records the embedding space,
so queries are embedded by the same model. Photos that fail to embed are listed and skipped.
Ctrl-C keeps the photos embedded so far (saved to IDX; the chunk of 256 being embedded is
lost) and prints the --update command that embeds the rest.

Exit status: 0 when every photo is indexed, 1 when some were skipped, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._backend import add_backend_arguments, add_rate_arguments, backend_options, rate_options

if TYPE_CHECKING:
    from ..index import BaseIndex

__all__ = ["HELP", "add_arguments", "run"]


HELP = "embed a folder of photos into a searchable index directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="folder of photos (searched recursively)")
    p.add_argument("--out", required=True, metavar="IDX", help="index directory to write")
    add_backend_arguments(p, default="local", dimension="embedding length (default: the backend's)")
    p.add_argument("--kind", choices=("flat", "faiss"), default=None,
                   help="flat: exact search (default); faiss: approximate HNSW, needs vertex-mm[index]")
    p.add_argument("--update", action="store_true",
                   help="open IDX if it exists: embed only photos it lacks or whose bytes changed (a photo whose "
                        "size and time are the same is not read; one whose time alone changed is hashed), "
                        "record where moved photos are now, and drop photos no longer on disk")
    add_rate_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..errors import EmbeddingSpaceMismatchError
    from ..index import BaseIndex, IndexConfig, create_index
    from ..index.build import find_images, index_images
    from ..jobs.sources import image_extensions_for
    from ..limits import IMAGE_MIME_TYPES, image_suffixes
    from ..registry import get_embedder
    from ._errors import UsageError

    out = Path(args.out)
    # One walk of the folder, for every image format any model takes: an empty folder is said
    # before a model loads; the model's own formats are picked from it once it is made.
    found = find_images(args.folder, suffixes=image_suffixes(IMAGE_MIME_TYPES))
    if not found:
        raise UsageError(f"no images under {args.folder}")
    # An empty folder (a mounted volume, say) is nothing there yet, as for write_directory.
    empty = not out.exists() or (out.is_dir() and not any(out.iterdir()))
    if not empty and not args.update:
        raise UsageError(f"{out} exists; pass --update to add to it, or choose another --out")
    embedder = get_embedder(args.backend, **backend_options(args), **rate_options(args))
    takes = image_extensions_for(embedder)  # HEIC for gemini only
    photos = [p for p in found if p.suffix.lower() in takes]
    if not photos:
        raise UsageError(f"no images under {args.folder} that {embedder.model} takes "
                         f"({', '.join(sorted(embedder.limits.image_formats))})")
    space = embedder.space(args.dimension)
    index: BaseIndex
    if args.update and not empty:
        index = BaseIndex.load(out)
        if args.kind is not None and args.kind != index.kind:  # it was ignored, the index kept its kind
            raise UsageError(f"{out} is a {index.kind} index; --update keeps its kind, so --kind {args.kind} cannot "
                             "apply: leave --kind out, or write a new index with --out")
        if space != index.space:  # the task is not compared, as in EmbeddingSpace.require_same
            raise EmbeddingSpaceMismatchError(
                f"{out} holds vectors in embedding space {index.space.id!r}; --backend {args.backend} with "
                f"these flags embeds in {space.id!r}, and vectors of two spaces are not comparable: pass the "
                "index's backend and --dimension, or choose another --out")
    else:
        index = create_index(IndexConfig(space), args.kind or "flat")
    root = Path(os.path.abspath(args.folder))  # links kept: a photo linked from elsewhere is named by its link
    ids = {Path(os.path.abspath(p)).relative_to(root).as_posix(): p for p in photos}
    todo, moved, keep = _plan(index, ids)
    gone = [i for i in index.ids if i not in ids]
    if moved:  # same bytes, new place or time (the folder was moved, a photo touched): the vectors stand
        index.set_metadata(list(moved), list(moved.values()))
    before = len(index)
    _defer_sigint_in_upsert(index)
    try:
        _, skipped = index_images(embedder, todo, root=root, dimension=space.dimension, index=index,
                                  progress=not args.no_progress, keep=keep)
    except KeyboardInterrupt:  # a BatchInterrupted too: the chunks added so far are whole
        return _interrupted(args, index, out, len(index) - before, len(todo))
    finally:
        embedder.close()
    # A changed photo that failed to embed now keeps no vector of what it used to show.
    gone += [i for i in skipped if i in index]
    if gone:
        index.delete(gone)
    index.save(out)
    print(f"vertex-mm index: {len(index)} photos in {out} (space {index.space.id}); "
          f"{len(todo) - len(skipped)} embedded now, {len(gone)} removed, {len(skipped)} skipped", file=sys.stderr)
    for id_, why in list(skipped.items())[:20]:
        print(f"  skipped {id_}: {why}", file=sys.stderr)
    return 1 if skipped else 0


def _plan(index: BaseIndex, ids: dict[str, Path]
          ) -> tuple[list[Path], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The photos to embed (new, or whose bytes changed since they were embedded), the new
    metadata of the others whose stored place or stat is out of date, and, for each photo
    embedded again, the keys of its row that the index did not write (tags, say), to keep.

    A photo of the same size and modification time is taken as unchanged without reading it.
    Otherwise its bytes decide: hashed and compared with the SHA-256 its row recorded, so a
    touched photo, or one copied without its times, costs no new embedding; a row without a
    hash (saved by an earlier version) cannot tell, and is embedded again. A row saved before
    the index recorded size and time cannot tell a change either: it keeps its vector and
    records the file as it is now."""
    from ..index.build import PHOTO_KEYS, photo_metadata, photo_sha256

    todo: list[Path] = []
    moved: dict[str, dict[str, Any]] = {}
    keep: dict[str, dict[str, Any]] = {}
    for id_, path in ids.items():
        if id_ not in index:
            todo.append(path)
            continue
        stored = index.metadata(id_)
        where = Path(os.path.abspath(path))
        now = photo_metadata(where, id_)
        if any(key in stored and stored[key] != now.get(key) for key in ("size", "mtime_ns")):
            digest = photo_sha256(where) if "sha256" in stored else None
            if digest is None or digest != stored["sha256"]:
                todo.append(path)
                keep[id_] = {key: value for key, value in stored.items() if key not in PHOTO_KEYS}
                continue
            now["sha256"] = digest
        if any(stored.get(key) != value for key, value in now.items()):
            moved[id_] = {**stored, **now}
    return todo, moved, keep


def _say(text: str) -> None:
    print(f"vertex-mm index: {text}", file=sys.stderr, flush=True)


def _unchanged(out: Path) -> str:
    return f" ({out} is as it was)" if out.exists() else ""


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back until the block ends (main thread, default handler only), then raise
    it: the block is never cut in the middle."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    got: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if got:
        raise KeyboardInterrupt


def _defer_sigint_in_upsert(index: BaseIndex) -> None:
    """Make each chunk's upsert whole: a Ctrl-C that arrives inside it is raised after it, so
    the index saved on an interrupt holds whole chunks only."""
    upsert = index.upsert

    def guarded(*args: object, **kwargs: object) -> dict[str, str]:
        with _sigint_deferred():
            return upsert(*args, **kwargs)  # type: ignore[arg-type]

    index.upsert = guarded  # type: ignore[method-assign]


def _interrupted(args: argparse.Namespace, index: BaseIndex, out: Path, added: int, planned: int) -> int:
    """Ctrl-C during the embedding: keep the photos added so far (whole chunks of 256; the one
    being embedded is lost) and say how to go on. Returns 130."""
    if added <= 0:
        _say(f"interrupted: nothing was saved{_unchanged(out)}; no photo had been added yet")
        return 130
    index.save(out)
    again = f"vertex-mm index {shlex.quote(str(args.folder))} --out {shlex.quote(str(out))} --backend {args.backend}"
    for flag in ("dimension", "device", "api_endpoint", "project", "location"):  # what chooses the space and service
        value = getattr(args, flag, None)
        if value is not None:
            again += f" --{flag.replace('_', '-')} {shlex.quote(str(value))}"
    _say(f"interrupted: kept {added} of the {planned} photos to embed in {out} ({len(index)} in the index); "
         f"to embed the other {planned - added}, run the same command with --update: {again} --update")
    return 130
