"""tesseract OCR with word boxes: single-threaded workers in parallel, results cached on disk.

The project's one tesseract wrapper: the OCR-assisted retriever and its "OCR + BM25" baseline
both read pages through :class:`OcrPool`.

Why these choices:

* tesseract's own OpenMP threads fight each other on a small machine; with
  ``OMP_THREAD_LIMIT=1`` one process per core read pages about 3x faster than one threaded
  process. So every call runs the CLI with that variable, and a pool keeps ``workers`` of
  them busy. The work happens in the tesseract processes; the pool only waits on them, so
  threads are enough to drive it and nothing large crosses a process boundary.
* The CLI's TSV output has every word with its box and confidence; no Python binding needed.
* A page image is OCR'd once: the result is stored under the SHA-256 of its pixels (plus the
  tesseract version and settings) in the cache folder (``cache_dir("ocr")``,
  :mod:`vertex_mm._paths`), so a re-run of an evaluation or a re-index costs nothing.

tesseract comes from Debian's ``tesseract-ocr`` and ``tesseract-ocr-eng`` packages.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vertex_mm._paths import cache_dir as vertex_cache_dir
from vertex_mm.errors import InvalidImageError, MissingDependencyError

from .words import Box, Word

__all__ = ["OcrPool", "OcrResult", "OcrSettings", "parse_tsv", "tesseract_version"]

_CACHE_FORMAT = "1"
# Below this many pixels on the long side, tesseract misses small print: upscale first.
_MIN_LONG_SIDE = 2000


@dataclass(frozen=True)
class OcrSettings:
    """How tesseract is run. ``psm`` 1 = automatic layout with orientation detection (a
    landscape figure printed sideways on a portrait page reads right); 11 = sparse text
    (figures)."""

    lang: str = "eng"
    psm: int = 1
    min_confidence: float = 40.0
    timeout_s: float = 120.0

    def key(self) -> str:
        return f"{self.lang}|{self.psm}|{self.min_confidence}"


@dataclass(frozen=True)
class OcrResult:
    """The words tesseract read in one image, boxes in fractions of that image."""

    words: list[Word]
    cached: bool


@functools.lru_cache(maxsize=1)
def tesseract_version(binary: str = "tesseract") -> str:
    """The version line of the tesseract binary; raises if it is not installed."""
    path = shutil.which(binary)
    if path is None:
        raise MissingDependencyError(
            "tesseract is not installed: apt-get install -y tesseract-ocr tesseract-ocr-eng "
            "(the OCR-assisted page retriever reads image-only pages with it)"
        )
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def parse_tsv(tsv: str, width: int, height: int, *, min_confidence: float) -> list[Word]:
    """Words (level 5 rows) of tesseract TSV output, boxes scaled to fractions of the image."""
    words: list[Word] = []
    lines = tsv.splitlines()
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        try:
            conf = float(cols[10])
            left, top, w, h = (int(c) for c in cols[6:10])
        except ValueError:
            continue
        if not text or conf < min_confidence:
            continue
        words.append(Word(text, Box(left / width, top / height, (left + w) / width, (top + h) / height), "ocr"))
    return words


def _prepare(image: Any) -> Any:
    """Grayscale, and upscaled when small: what tesseract reads best."""
    img = image.convert("L")
    long_side = max(img.size)
    if long_side < _MIN_LONG_SIDE:
        from PIL import Image

        scale = _MIN_LONG_SIDE / long_side
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return img


class OcrPool:
    """Runs tesseract on many images at once, ``workers`` single-threaded processes at a time.

    >>> with OcrPool(workers=2) as pool:                      # doctest: +SKIP
    ...     futures = [pool.submit(img) for img in images]
    ...     words = [f.result().words for f in futures]

    ``submit`` looks in the cache first (in the caller's thread) and returns a done future on a hit.
    """

    def __init__(self, workers: int | None = None, *, settings: OcrSettings = OcrSettings(),
                 cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True,
                 binary: str = "tesseract") -> None:
        self.version = tesseract_version(binary)
        self.binary = shutil.which(binary) or binary
        self.settings = settings
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir else vertex_cache_dir("ocr")
        self.use_cache = use_cache
        self.hits = 0
        self.misses = 0
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tesseract")

    def __enter__(self) -> "OcrPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def cache_key(self, image: Any, settings: OcrSettings | None = None) -> str:
        s = settings or self.settings
        h = hashlib.sha256()
        h.update(f"{_CACHE_FORMAT}|{self.version}|{s.key()}|{image.mode}|{image.size}".encode())
        h.update(image.tobytes())
        return h.hexdigest()

    def submit(self, image: Any, *, settings: OcrSettings | None = None, name: str = "image") -> "Future[OcrResult]":
        """OCR one PIL image (any mode/size); the future's result has boxes in image fractions."""
        s = settings or self.settings
        key = self.cache_key(image, s)
        path = self.cache_dir / key[:2] / f"{key}.json"
        if self.use_cache and path.is_file():
            try:
                words = _words_from_json(json.loads(path.read_text(encoding="utf-8")))
                self.hits += 1
                done: Future[OcrResult] = Future()
                done.set_result(OcrResult(words, cached=True))
                return done
            except (ValueError, KeyError, TypeError):
                pass  # a torn or old cache file: read the image again
        self.misses += 1
        prepared = _prepare(image)
        buf = io.BytesIO()
        prepared.save(buf, format="PNG")
        return self._executor.submit(self._run, buf.getvalue(), prepared.size, s, path, name)

    def _run(self, png: bytes, size: tuple[int, int], s: OcrSettings, path: pathlib.Path, name: str) -> OcrResult:
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        cmd = [self.binary, "stdin", "stdout", "-l", s.lang, "--psm", str(s.psm), "tsv"]
        proc = subprocess.run(cmd, input=png, capture_output=True, env=env, timeout=s.timeout_s)
        if proc.returncode != 0:
            raise InvalidImageError(
                f"{name}: tesseract failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace').strip()[:300]}",
                input_name=name,
            )
        words = parse_tsv(proc.stdout.decode("utf-8", errors="replace"), size[0], size[1], min_confidence=s.min_confidence)
        if self.use_cache:
            _atomic_write(path, json.dumps(_words_to_json(words)))
        return OcrResult(words, cached=False)


def _words_to_json(words: Sequence[Word]) -> dict[str, Any]:
    return {"format": _CACHE_FORMAT, "words": [[w.text, w.box.x0, w.box.y0, w.box.x1, w.box.y1] for w in words]}


def _words_from_json(data: dict[str, Any]) -> list[Word]:
    if data.get("format") != _CACHE_FORMAT:
        raise ValueError("old cache format")
    return [Word(str(t), Box(float(a), float(b), float(c), float(d)), "ocr") for t, a, b, c, d in data["words"]]


def _atomic_write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
