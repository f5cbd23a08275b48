"""What every export makes sure of before a target sees its output: rows whose text the target
can store, and output folders that appear whole or not at all.

* Ids and metadata must be UTF-8 text. A file name that is not UTF-8 reaches Python with lone
  surrogates (``os.listdir`` decodes it so); an index keeps such an id, but no target can store
  it, and every export failed on it with a bare ``UnicodeEncodeError`` part way through.
* A batch folder (Vector Search batch root, ``importDataObjects`` input) is written beside its
  final place and renamed there at the end: a failure or Ctrl-C mid-export no longer leaves a
  folder of some shards that an upload would take for the whole index, and that the rerun
  refuses as "not empty".
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..._jsonl import is_utf8
from ...errors import InputError, OutputPathError

__all__ = ["check_row_text", "new_folder", "utf8_text"]


def utf8_text(text: str, what: str, target: str) -> str:
    """``text`` itself when UTF-8 can encode it; an :class:`InputError` naming ``what`` otherwise."""
    if not is_utf8(text):
        raise InputError(f"{what} is not valid UTF-8 text (a file name in another encoding?); {target} stores UTF-8 "
                         "strings only: rename the file to UTF-8 and index it again, or add it under another id",
                         input_name=what)
    return text


def check_row_text(id_: str, metadata: Mapping[str, Any], target: str) -> None:
    """Refuse a row whose id or metadata text ``target`` cannot store (:func:`utf8_text`)."""
    utf8_text(id_, f"id {id_!r}", target)
    if not is_utf8(json.dumps(metadata, ensure_ascii=False, default=str)):
        raise InputError(f"the metadata of {id_!r} holds text that is not valid UTF-8 (a file name in another "
                         f"encoding?); {target} stores UTF-8 strings only", input_name=f"metadata of {id_!r}")


@contextmanager
def new_folder(root: Path, why: str) -> Iterator[Path]:
    """A fresh folder to write an export into, put at ``root`` when the block ends without an
    error and removed otherwise. ``root`` must be absent or an empty folder (``why`` says what
    would read everything in it)."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise OutputPathError(f"{root} is not empty; {why}", input_name=str(root))
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        os.replace(tmp, root)  # over an empty folder too (POSIX rename replaces an empty directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
