"""tesseract OCR with word boxes: single-threaded engines in parallel, results cached on disk.

The project's one tesseract wrapper: the OCR-assisted retriever and its "OCR + BM25" baseline
both read pages through :class:`OcrPool`.

Why these choices:

* tesseract's own OpenMP threads fight each other on a small machine; with one thread per
  engine (``OMP_THREAD_LIMIT=1``), one engine per core read pages about 3x faster than one
  threaded engine. A pool keeps ``workers`` of them busy from threads: the work happens in
  tesseract, with the GIL released, so nothing large crosses a process boundary.
* The default engine is the tesseract CLI, one process a page, fed uncompressed PGM (a PNG cost
  35 ms a page to encode): a page that crashes or hangs tesseract (``timeout_s``) fails alone,
  as a typed per-page error, and the job goes on. ``engine="library"`` (or ``"auto"``: the
  library where it loads) runs libtesseract in this process (:mod:`.tesseract_lib`, ctypes):
  16% less CPU a page, but a crash inside tesseract then ends the whole process, and one
  unexplained segfault was seen while measuring it, and libtesseract binds to torch's OpenMP
  runtime, where its thread settings can change how torch computes later in the process; so it
  is opt-in. They read most pages
  alike, not all (the cache keeps them apart); :data:`ENGINES`.
* tesseract's TSV has every word with its box and confidence; no Python binding needed.
* A page image is OCR'd once: the result is stored under the SHA-256 of its pixels plus the
  tesseract version and every setting that changes the words (:meth:`OcrSettings.key`) in the
  cache folder (``cache_dir("ocr")``, :mod:`vertex_mm._paths`), so a re-run of an evaluation or
  a re-index costs nothing.
* The settings (:class:`OcrSettings`, and the reader's ``ocr_dpi``) were chosen by measurement
  on image-only pages: ``benchmarks/pages_index_speed.py --image-only``.

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
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vertex_mm._paths import cache_dir as vertex_cache_dir
from vertex_mm.errors import InputError, InvalidImageError, MissingDependencyError

from .tesseract_lib import TesseractEngine, load_library
from .words import Box, Word

__all__ = ["ENGINES", "OcrPool", "OcrResult", "OcrSettings", "parse_tsv", "tesseract_version"]

#: How tesseract is run: "library" (libtesseract in this process), "cli" (a process a page),
#: "auto" (the library where it loads, else the CLI).
ENGINES = ("auto", "library", "cli")

_CACHE_FORMAT = "1"


@dataclass(frozen=True)
class OcrSettings:
    """How tesseract is run; every field that changes what it reads is part of the cache key.

    ``psm`` 1 = automatic layout with orientation detection (a landscape figure printed
    sideways on a portrait page reads right); 3 = the same without orientation detection;
    11 = sparse text (figures). ``invert``: tesseract's second pass over lines it reads badly,
    on the inverted image (white on black text). ``upscale_to``: an image whose resolution is
    not known (an image file) and whose long side is below this many pixels is upscaled to it
    first (tesseract misses small print); pages the reader renders at a known DPI are OCR'd at
    that DPI as they are. ``engine``: see :data:`ENGINES` (the cache key holds the engine a pool
    runs: the two read a few pages differently).
    """

    lang: str = "eng"
    psm: int = 1
    min_confidence: float = 40.0
    timeout_s: float = 120.0
    invert: bool = True
    upscale_to: int = 2000
    engine: str = "cli"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {ENGINES}, got {self.engine!r}", input_name="engine")
        if not 0 <= self.psm <= 13:
            raise InputError(f"psm must be a tesseract page segmentation mode 0..13, got {self.psm}", input_name="psm")
        if self.upscale_to < 0:
            raise InputError(f"upscale_to must be >= 0 pixels, got {self.upscale_to}", input_name="upscale_to")

    def key(self) -> str:
        # (upscaling is keyed by OcrPool.cache_key: it applies only to images not rendered at a known DPI)
        return f"{self.lang}|{self.psm}|{self.min_confidence}|invert={int(self.invert)}"

    def variables(self) -> dict[str, str]:
        """tesseract variables (``-c name=value``) these settings set."""
        return {} if self.invert else {"tessedit_do_invert": "0"}

    def args(self) -> list[str]:
        """The tesseract command-line options these settings stand for."""
        out = ["-l", self.lang, "--psm", str(self.psm)]
        for k, v in self.variables().items():
            out += ["-c", f"{k}={v}"]
        return out


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
    for line in tsv.splitlines():  # the CLI's header line (and every non-word row) has no "5" first
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


def _prepare(image: Any, upscale_to: int) -> Any:
    """Grayscale, and upscaled to ``upscale_to`` pixels on the long side when smaller (0: never)."""
    img = image.convert("L")
    long_side = max(img.size)
    if long_side < upscale_to:
        from PIL import Image

        scale = upscale_to / long_side
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return img


class OcrPool:
    """Runs tesseract on many images at once, ``workers`` single-threaded engines at a time.

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
        engine = settings.engine
        if engine == "auto":
            engine = "library" if load_library() is not None else "cli"
        elif engine == "library" and load_library() is None:
            raise MissingDependencyError("libtesseract.so.5 could not be loaded (Debian package libtesseract5, "
                                         "a dependency of tesseract-ocr); use OcrSettings(engine='cli')")
        #: "library": libtesseract in this process (:mod:`.tesseract_lib`); "cli": a process a page.
        self.engine = engine
        self._engines: list[TesseractEngine] = []
        self._local = threading.local()
        self._lock = threading.Lock()
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
        with self._lock:
            for e in self._engines:
                e.close()
            self._engines.clear()

    def cache_key(self, image: Any, settings: OcrSettings | None = None, *, rendered: bool = False) -> str:
        """SHA-256 of the pixels, the tesseract version, the engine this pool runs and every
        setting that changes the words. (The two engines read most pages alike but not all: on
        the image-only dev pages the CLI scored nDCG@5 0.934 and the library 0.942, so their
        results are never mixed.)"""
        s = settings or self.settings
        h = hashlib.sha256()
        upscale = 0 if rendered else s.upscale_to
        h.update(f"{_CACHE_FORMAT}|{self.version}|{self.engine}|{s.key()}|up={upscale}|{image.mode}|{image.size}".encode())
        h.update(image.tobytes())
        return h.hexdigest()

    def submit(self, image: Any, *, settings: OcrSettings | None = None, name: str = "image",
               rendered: bool = False) -> "Future[OcrResult]":
        """OCR one PIL image (any mode/size); the future's result has boxes in image fractions.
        ``rendered``: the image was rendered at the resolution meant for OCR (never upscaled)."""
        s = settings or self.settings
        key = self.cache_key(image, s, rendered=rendered)
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
        prepared = _prepare(image, 0 if rendered else s.upscale_to)
        return self._executor.submit(self._run, prepared, s, path, name)

    def _run(self, image: Any, s: OcrSettings, path: pathlib.Path, name: str) -> OcrResult:
        tsv = self._tsv_library(image, s, name) if self.engine == "library" else self._tsv_cli(image, s, name)
        words = parse_tsv(tsv, image.width, image.height, min_confidence=s.min_confidence)
        if self.use_cache:
            _atomic_write(path, json.dumps(_words_to_json(words)))
        return OcrResult(words, cached=False)


    def _tsv_cli(self, image: Any, s: OcrSettings, name: str) -> str:
        buf = io.BytesIO()
        image.save(buf, format="PPM")  # PGM: no compression to spend time on (a PNG took 35 ms a page)
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        cmd = [self.binary, "stdin", "stdout", *s.args(), "tsv"]
        proc = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, env=env, timeout=s.timeout_s)
        if proc.returncode != 0:
            raise InvalidImageError(
                f"{name}: tesseract failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace').strip()[:300]}",
                input_name=name,
            )
        return proc.stdout.decode("utf-8", errors="replace")

    def _tsv_library(self, image: Any, s: OcrSettings, name: str) -> str:
        """This worker thread's engine for these settings (loaded on first use) reads the image."""
        engines: dict[tuple[str, int, bool], TesseractEngine] = self._local.__dict__.setdefault("engines", {})
        key = (s.lang, s.psm, s.invert)
        engine = engines.get(key)
        if engine is None:
            try:
                engine = TesseractEngine(s.lang, psm=s.psm, variables=s.variables())
            except ValueError as exc:
                raise InvalidImageError(f"{name}: tesseract failed: {exc}", input_name=name) from exc
            with self._lock:
                self._engines.append(engine)
            engines[key] = engine
        return engine.tsv(image)


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
