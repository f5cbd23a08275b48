"""JSON Lines data files (query sets, manifests, page lists): one JSON object per line.

The one reader of such files, so every one of them refuses a bad line the same way: with a
typed error naming ``file:line``. Blank lines are skipped, and so are ``#`` comment lines where
the format allows them. (Job journals are not read here: a torn last line there is expected
after a crash and is cut off, not refused; see :mod:`vertex_mm.jobs`.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import InputError, VertexMMError

__all__ = ["escape_utf8", "is_utf8", "json_line", "json_objects", "plain_json"]


def json_line(obj: Any, **kwargs: Any) -> str:
    """``obj`` as the text of one JSON line (``json.dumps`` ``kwargs``), non-ASCII text kept as
    it is, except where UTF-8 cannot encode it: a file name that is not UTF-8 reaches Python
    with lone surrogates (``os.listdir`` decodes it so), and such a line is written with
    ``\\udcff``-style escapes instead, which ``json.loads`` reads back as the same string (so
    the name still finds its file)."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return text if is_utf8(text) else json.dumps(obj, ensure_ascii=True, **kwargs)


def is_utf8(text: str) -> bool:
    """Whether UTF-8 can encode ``text``: not when it holds lone surrogates (how ``os.listdir``
    hands over a file name in another encoding)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _input_error(message: str, where: str) -> VertexMMError:
    return InputError(message, input_name=where)


def json_objects(
    path: Path, *, comments: bool = False, error: Callable[[str, str], VertexMMError] = _input_error
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(where, line number, object)`` for each object line of ``path`` (``where`` is
    ``"path:line"``). ``error(message, where)`` makes the exception for an unreadable file, a
    line that is not JSON, or JSON that is not an object (default :class:`InputError`)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})", str(path)) from exc
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or (comments and line.startswith("#")):
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not JSON ({exc.msg})", where) from exc
        if not isinstance(obj, dict):
            raise error(f"{where}: expected a JSON object, got {type(obj).__name__}", where)
        yield where, n, obj


def escape_utf8(text: str) -> str:
    """``text`` as UTF-8 can hold it: the bytes of a name ``os.listdir`` could not decode as
    ``\\xNN``, any other lone surrogate as ``\\uDXXX`` (for where a string must be UTF-8:
    Parquet, a batch job's input key)."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def plain_json(value: Any) -> Any:
    """``value`` as JSON can hold it: a float that is not finite (NaN, inf: a missing value
    read through pandas) becomes null, and mapping keys become strings. ``json.dumps`` writes
    bare ``NaN`` tokens, which no strict JSON reader (BigQuery, Vector Search) takes, and
    ``sort_keys`` fails on keys of mixed types."""
    if isinstance(value, float):  # numpy's float64 too
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if type(value).__module__ == "numpy" and getattr(value, "dtype", None) is not None and value.dtype.kind == "f":
        return plain_json(float(value)) if getattr(value, "ndim", 0) == 0 else plain_json(value.tolist())
    return value
