"""tesseract OCR with word boxes: single-threaded engines in parallel, results cached on disk.

The project's one tesseract wrapper: the OCR-assisted retriever and its "OCR + BM25" baseline
both read pages through :class:`OcrPool`.

Why these choices:

* tesseract's own OpenMP threads fight each other on a small machine; with one thread per
  engine (``OMP_THREAD_LIMIT=1``), one engine per core read pages about 3x faster than one
  threaded engine. A pool keeps ``workers`` of them busy, each from its own thread.
* The default engine (``"auto"``) is libtesseract in worker processes, one per pool thread with
  its model loaded once (:mod:`.tesseract_lib`): a crash inside tesseract ends that worker, the
  page is read again by the CLI and the job goes on (``crashes`` counts them); a page that hangs
  is killed after ``timeout_s``. ``"cli"`` runs the tesseract CLI, one process a page, fed
  uncompressed PGM (a PNG cost 35 ms a page to encode): it loads the model for every page. The
  two read the 96 image-only dev pages word for word alike; the cache still keeps them apart.
  (The nDCG@5 gap once seen between them, 0.942 against 0.934, came from libtesseract loaded in
  the indexing process changing how torch computed the dense vectors, not from the words.)
* Orientation: the default reads a page with ``--psm 3`` (no orientation detection: 16% less
  tesseract CPU than ``--psm 1``) and reads it again with ``--psm 1`` only when its words came
  out with a low mean confidence, as a sideways or upside-down page's do
  (:attr:`OcrSettings.reread_below`; 1 page in the fixture's 96).
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

import dataclasses
import functools
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vertex_mm._paths import cache_dir as vertex_cache_dir
from vertex_mm._paths import write_cache_file
from vertex_mm.errors import InputError, InvalidImageError, MissingDependencyError

from .tesseract_lib import EngineProcess, WorkerCrashed, WorkerTimeout, library_available
from .words import Box, Word

__all__ = ["ENGINES", "OcrPool", "OcrResult", "OcrSettings", "mean_confidence", "parse_tsv", "tesseract_version"]

#: How tesseract is run: "library" (libtesseract in worker processes, the model loaded once per
#: worker), "cli" (a process a page), "auto" (the library where it loads, else the CLI).
ENGINES = ("auto", "library", "cli")

_CACHE_FORMAT = "1"


@dataclass(frozen=True)
class OcrSettings:
    """How tesseract is run; every field that changes what it reads is part of the cache key.

    ``psm`` 1 = automatic layout with orientation detection (a landscape figure printed
    sideways on a portrait page reads right); 3 = the same without orientation detection;
    11 = sparse text (figures). ``reread_below``: with psm 3, a page whose words' mean
    confidence is below this is read again with psm 1 and the reading with the higher mean
    confidence is kept (0: never). On the fixture's 96 pages the sideways one read at a mean of
    45 (83 with psm 1), every upright one at 68 or more; psm 1 read the upright ones alike.
    ``invert``: tesseract's second pass over lines it reads badly, on the inverted image (white
    on black text). ``upscale_to``: an image whose resolution is
    not known (an image file) and whose long side is below this many pixels is upscaled to it
    first (tesseract misses small print); pages the reader renders at a known DPI are OCR'd at
    that DPI as they are. ``engine``: see :data:`ENGINES` (the cache key holds the engine a pool
    runs: nothing guarantees the two read every page alike).
    """

    lang: str = "eng"
    psm: int = 3
    reread_below: float = 60.0
    min_confidence: float = 40.0
    timeout_s: float = 120.0
    invert: bool = True
    upscale_to: int = 2000
    engine: str = "auto"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {ENGINES}, got {self.engine!r}", input_name="engine")
        if not 0 <= self.psm <= 13:
            raise InputError(f"psm must be a tesseract page segmentation mode 0..13, got {self.psm}", input_name="psm")
        if not 0 <= self.reread_below <= 100:
            raise InputError(f"reread_below must be a mean confidence 0..100, got {self.reread_below}",
                             input_name="reread_below")
        if self.upscale_to < 0:
            raise InputError(f"upscale_to must be >= 0 pixels, got {self.upscale_to}", input_name="upscale_to")

    def key(self) -> str:
        # (upscaling is keyed by OcrPool.cache_key: it applies only to images not rendered at a known DPI)
        reread = f"|reread<{self.reread_below}" if self.psm == 3 and self.reread_below > 0 else ""
        return f"{self.lang}|{self.psm}{reread}|{self.min_confidence}|invert={int(self.invert)}"

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
            engine = "library" if library_available() else "cli"
        elif engine == "library" and not library_available():
            raise MissingDependencyError("libtesseract.so.5 could not be loaded (Debian package libtesseract5, "
                                         "a dependency of tesseract-ocr); use OcrSettings(engine='cli')")
        #: "library": libtesseract in worker processes (:mod:`.tesseract_lib`); "cli": a process a page.
        self.engine = engine
        self._workers: list[EngineProcess] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self.settings = settings
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir else vertex_cache_dir("ocr")
        self.use_cache = use_cache
        self.hits = 0
        self.misses = 0
        #: pages read again with psm 1 (low confidence with psm 3), and pages whose library worker
        #: crashed (read again by the CLI)
        self.rereads = 0
        self.crashes = 0
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tesseract")

    def __enter__(self) -> "OcrPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for w in self._workers:
                w.close()
            self._workers.clear()

    def cache_key(self, image: Any, settings: OcrSettings | None = None, *, rendered: bool = False) -> str:
        """SHA-256 of the pixels, the tesseract version, the engine this pool runs and every
        setting that changes the words. (The two engines read the dev pages alike, but nothing
        guarantees it for every page, so their results are never mixed.)"""
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
            except (ValueError, KeyError, TypeError, OSError):
                # A torn or old cache file, or one this account cannot read (a shared cache
                # holding another's 0600 file): read the image again.
                pass
        self.misses += 1
        prepared = _prepare(image, 0 if rendered else s.upscale_to)
        return self._executor.submit(self._run, prepared, s, path, name)

    def _run(self, image: Any, s: OcrSettings, path: pathlib.Path, name: str) -> OcrResult:
        tsv, crashed = self._read(image, s, name)
        if s.psm == 3 and s.reread_below > 0:
            confidence = mean_confidence(tsv)
            if confidence < s.reread_below:
                with self._lock:
                    self.rereads += 1
                upright, crashed_again = self._read(image, dataclasses.replace(s, psm=1), name)
                crashed = crashed or crashed_again
                if mean_confidence(upright) > confidence:
                    tsv = upright
        words = parse_tsv(tsv, image.width, image.height, min_confidence=s.min_confidence)
        if self.use_cache and not crashed:  # a page the CLI read instead is not stored under the library's key
            _atomic_write(path, json.dumps(_words_to_json(words)))
        return OcrResult(words, cached=False)

    def _read(self, image: Any, s: OcrSettings, name: str) -> tuple[str, bool]:
        """The TSV of the page, and whether the library worker crashed on it (the CLI read it)."""
        if self.engine == "cli":
            return self._tsv_cli(image, s, name), False
        try:
            return self._tsv_library(image, s, name), False
        except WorkerCrashed:
            with self._lock:
                self.crashes += 1
            return self._tsv_cli(image, s, name), True

    def _tsv_cli(self, image: Any, s: OcrSettings, name: str) -> str:
        buf = io.BytesIO()
        image.save(buf, format="PPM")  # PGM: no compression to spend time on (a PNG took 35 ms a page)
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        cmd = [self.binary, "stdin", "stdout", *s.args(), "tsv"]
        try:
            proc = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, env=env, timeout=s.timeout_s)
        except subprocess.TimeoutExpired:
            raise InvalidImageError(f"{name}: tesseract took longer than timeout_s={s.timeout_s:g}s",
                                    input_name=name) from None
        except OSError as exc:  # the page fails, typed and named; the job goes on
            raise InvalidImageError(f"{name}: could not run {self.binary}: {exc}", input_name=name) from exc
        if proc.returncode != 0:
            raise InvalidImageError(
                f"{name}: tesseract failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace').strip()[:300]}",
                input_name=name,
            )
        return proc.stdout.decode("utf-8", errors="replace")

    def _new_worker(self) -> EngineProcess:
        return EngineProcess()

    def _tsv_library(self, image: Any, s: OcrSettings, name: str) -> str:
        """This pool thread's worker process (started on first use, again after a crash) reads the image."""
        worker: EngineProcess | None = getattr(self._local, "worker", None)
        if worker is None:
            try:
                worker = self._local.worker = self._new_worker()
            except OSError as exc:  # no process to be had (too many open files, say): the CLI reads this page
                raise WorkerCrashed(f"could not start a tesseract worker: {exc}", None) from exc
            with self._lock:
                self._workers.append(worker)
        try:
            return worker.read(image, lang=s.lang, psm=s.psm, variables=s.variables(), timeout_s=s.timeout_s)
        except (WorkerCrashed, WorkerTimeout) as exc:
            self._local.worker = None
            with self._lock:
                self._workers.remove(worker)
            if isinstance(exc, WorkerTimeout):
                raise InvalidImageError(f"{name}: {exc} (timeout_s)", input_name=name) from None
            raise
        except ValueError as exc:
            raise InvalidImageError(f"{name}: tesseract failed: {exc}", input_name=name) from exc


def mean_confidence(tsv: str) -> float:
    """Mean confidence (0..100) of the words in tesseract TSV output; 0 when there are none."""
    confs = []
    for line in tsv.splitlines():
        cols = line.split("\t")
        if len(cols) >= 12 and cols[0] == "5" and cols[11].strip():
            try:
                confs.append(float(cols[10]))
            except ValueError:
                continue
    return sum(confs) / len(confs) if confs else 0.0


def _words_to_json(words: Sequence[Word]) -> dict[str, Any]:
    return {"format": _CACHE_FORMAT, "words": [[w.text, w.box.x0, w.box.y0, w.box.x1, w.box.y1] for w in words]}


def _words_from_json(data: dict[str, Any]) -> list[Word]:
    if data.get("format") != _CACHE_FORMAT:
        raise ValueError("old cache format")
    return [Word(str(t), Box(float(a), float(b), float(c), float(d)), "ocr") for t, a, b, c, d in data["words"]]


def _atomic_write(path: pathlib.Path, text: str) -> None:
    try:
        write_cache_file(path, lambda f: f.write(text.encode("utf-8")))
    except OSError:
        pass  # a read-only or full cache costs the OCR again next time, not this page
