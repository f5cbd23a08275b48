"""Reading evaluation queries and near-duplicate manifests (JSON Lines, one object a line).

Queries file (``--queries``)::

    {"text": "a red motorcycle in a garage", "relevant": ["motorcycle.jpg"]}
    {"text": "outer space", "relevant": ["galaxies.jpg", "moon_surface.jpg", "rocket.jpg"]}
    {"image": "query_images/cat_face_crop.jpg", "relevant": ["cat.jpg"]}
    {"text": "a cat", "expected": "cat.jpg"}            # vertex_mm.sample_data's format

* ``text`` or ``image``: exactly one. An image path is read relative to the queries file's
  folder, then relative to its ``query_images/`` subfolder (the layout of
  :mod:`vertex_mm.sample_data`); absolute paths work too.
* ``relevant``: the photos that answer the query, as paths relative to the evaluated folder
  (a bare file name for a flat folder). ``expected`` (one name) is accepted for ``relevant``.
* Blank lines and lines starting with ``#`` are skipped; other keys (``id``, ``note``) are ignored.

Near-duplicate manifest (``--neardup``), as :mod:`vertex_mm.evaluation.neardup` writes it::

    {"query": "cat__crop.jpg", "target": "cat.jpg", "transform": "crop"}

``query`` is an image path relative to the manifest's folder, ``target`` the original photo
relative to the evaluated folder, ``transform`` (optional) names the edit for a breakdown.
A malformed line raises :class:`~vertex_mm.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._jsonl import json_objects
from ..errors import InputError

__all__ = ["EvalQuery", "NearDuplicate", "load_neardup_manifest", "load_queries"]


@dataclass(frozen=True)
class EvalQuery:
    """One text or image query and the ids of the photos that answer it."""

    text: str | None
    image: Path | None
    relevant: tuple[str, ...]
    source: str = ""  # "file:line", for messages

    @property
    def kind(self) -> str:
        return "text" if self.text is not None else "image"

    @property
    def label(self) -> str:
        return self.text if self.text is not None else f"[image] {self.image.name if self.image else ''}"


@dataclass(frozen=True)
class NearDuplicate:
    """An edited copy of a photo (``query``) and the id of the original (``target``)."""

    query: Path
    target: str
    transform: str = ""
    source: str = ""

    @property
    def label(self) -> str:
        return f"[near-dup] {self.query.name}"


def load_queries(path: str | os.PathLike[str]) -> list[EvalQuery]:
    """The queries of a JSONL file (format in the module docstring), in file order."""
    path = Path(path)
    out: list[EvalQuery] = []
    for where, obj in _records(path):
        text, image = obj.get("text"), obj.get("image")
        if (text is None) == (image is None):
            raise InputError(f"{where}: give exactly one of \"text\" or \"image\"", input_name=where)
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise InputError(f"{where}: \"text\" must be a non-empty string", input_name=where)
        image_path = _query_image(path.parent, image, where) if image is not None else None
        out.append(EvalQuery(text, image_path, _relevant(obj, where), where))
    if not out:
        raise InputError(f"{path}: no queries in the file", input_name=str(path))
    return out


def load_neardup_manifest(path: str | os.PathLike[str]) -> list[NearDuplicate]:
    """The pairs of a near-duplicate manifest (format in the module docstring), in file order."""
    path = Path(path)
    out: list[NearDuplicate] = []
    for where, obj in _records(path):
        query, target = obj.get("query"), obj.get("target")
        if not isinstance(query, str) or not isinstance(target, str) or not query or not target:
            raise InputError(f"{where}: needs \"query\" (an image path) and \"target\" (a photo id)", input_name=where)
        qpath = Path(query) if Path(query).is_absolute() else path.parent / query
        if not qpath.is_file():
            raise InputError(f"{where}: near-duplicate image {qpath} does not exist", input_name=where)
        out.append(NearDuplicate(qpath, _normalise_id(target), str(obj.get("transform") or ""), where))
    if not out:
        raise InputError(f"{path}: no near-duplicates in the manifest", input_name=str(path))
    return out


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, _n, obj in json_objects(path, comments=True):
        yield where, obj


def _relevant(obj: dict[str, Any], where: str) -> tuple[str, ...]:
    rel = obj.get("relevant", obj.get("expected"))
    if isinstance(rel, str):
        rel = [rel]
    if not isinstance(rel, list) or not rel or not all(isinstance(r, str) and r for r in rel):
        raise InputError(f"{where}: \"relevant\" must be a non-empty list of photo names", input_name=where)
    return tuple(dict.fromkeys(_normalise_id(r) for r in rel))


def _query_image(base: Path, image: Any, where: str) -> Path:
    if not isinstance(image, str) or not image:
        raise InputError(f"{where}: \"image\" must be a path", input_name=where)
    candidates = [Path(image)] if Path(image).is_absolute() else [base / image, base / "query_images" / image]
    for c in candidates:
        if c.is_file():
            return c
    raise InputError(f"{where}: query image {image!r} not found (looked in {base} and {base / 'query_images'})",
                     input_name=where)


def _normalise_id(name: str) -> str:
    # Ids are posix paths relative to the evaluated folder, as `vertex-mm index` writes them.
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name
