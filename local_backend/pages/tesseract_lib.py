"""tesseract in this process: libtesseract's C API through ctypes, one engine per worker thread.

Why: the ``tesseract`` CLI loads its model (and, for ``--psm 1``, the orientation model) for
every page, and the page has to be encoded to cross the pipe. A loaded engine reads the next
page straight from the pixel buffer: about 16% less CPU a page on the fixture's pages (0.85 s
against 1.02 s at 150 dpi, ``--psm 3``), with the same words on most pages but not all (the
image-only dev pages scored nDCG@5 0.942 here and 0.934 with the CLI; the OCR cache keeps the
two engines' results apart). ctypes releases the GIL during the
call, so the pool's threads read pages in parallel as the CLI processes did, each engine held
to one thread (see :func:`_one_omp_thread`).

Nothing is compiled: ``libtesseract.so.5`` ships with Debian's ``tesseract-ocr`` package (its
dependency ``libtesseract5``). :func:`load_library` returns ``None`` where it cannot be loaded;
:class:`~.ocr.OcrPool` then falls back to the CLI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from typing import Any

__all__ = ["TesseractEngine", "load_library"]

_SONAMES = ("libtesseract.so.5", "libtesseract.so")


@functools.lru_cache(maxsize=1)
def load_library() -> Any | None:
    """The C API of libtesseract with argument types declared, or ``None`` where it is missing."""
    lib = None
    for name in (*_SONAMES, ctypes.util.find_library("tesseract")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None or not hasattr(lib, "TessBaseAPIGetTsvText"):
        return None
    p, c_int, c_char_p = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    _declare(lib.TessBaseAPICreate, [], p)
    _declare(lib.TessBaseAPIInit3, [p, c_char_p, c_char_p], c_int)
    _declare(lib.TessBaseAPISetPageSegMode, [p, c_int], None)
    _declare(lib.TessBaseAPISetVariable, [p, c_char_p, c_char_p], c_int)
    _declare(lib.TessBaseAPISetImage, [p, c_char_p, c_int, c_int, c_int, c_int], None)
    _declare(lib.TessBaseAPIGetTsvText, [p, c_int], p)
    _declare(lib.TessBaseAPIClear, [p], None)
    _declare(lib.TessBaseAPIEnd, [p], None)
    _declare(lib.TessBaseAPIDelete, [p], None)
    _declare(lib.TessDeleteText, [p], None)
    return lib


def _declare(fn: Any, argtypes: list[Any], restype: Any) -> None:
    fn.argtypes = argtypes
    fn.restype = restype


def _one_omp_thread() -> None:
    """Run this thread's OpenMP regions on this thread alone.

    tesseract asks for 4-thread teams (``num_threads(4)`` in its LSTM code), which override
    ``omp_set_num_threads``; the CLI is held to one thread by ``OMP_THREAD_LIMIT=1``, but in
    this process libgomp is usually torch's copy, loaded and configured before us, and that
    variable would cap torch too. No active parallel level in this thread does it: 8 pages on
    2 threads took 8 s of CPU instead of 45 s of mostly spinning team threads.
    """
    try:
        gomp = ctypes.CDLL("libgomp.so.1")  # the copy libtesseract is bound to (matched by soname)
    except OSError:
        return  # tesseract built without OpenMP
    gomp.omp_set_max_active_levels(0)


class TesseractEngine:
    """One loaded tesseract engine; use it from one thread at a time.

    >>> engine = TesseractEngine("eng", psm=3, variables={"tessedit_do_invert": "0"})  # doctest: +SKIP
    >>> tsv = engine.tsv(gray_image)                                                      # doctest: +SKIP
    """

    def __init__(self, lang: str, *, psm: int, variables: dict[str, str] | None = None) -> None:
        lib = load_library()
        if lib is None:
            raise OSError("libtesseract could not be loaded")
        _one_omp_thread()
        self._lib = lib
        self._api = lib.TessBaseAPICreate()
        if not self._api:
            self._api = None
            raise MemoryError("libtesseract could not create an engine (TessBaseAPICreate returned NULL)")
        if lib.TessBaseAPIInit3(self._api, None, lang.encode()) != 0:
            self.close()
            raise ValueError(f"tesseract could not load the language {lang!r}")
        lib.TessBaseAPISetPageSegMode(self._api, psm)
        # tesseract's diagnostics ("Detected 90 diacritics") would go to our stderr: drop them.
        for key, value in {"debug_file": os.devnull, **(variables or {})}.items():
            if not lib.TessBaseAPISetVariable(self._api, key.encode(), value.encode()):
                self.close()
                raise ValueError(f"tesseract has no setting {key!r}")

    def tsv(self, image: Any) -> str:
        """tesseract's TSV (no header line) of an 8-bit grayscale PIL image."""
        if self._api is None:
            raise RuntimeError("the tesseract engine is closed")
        if image.mode != "L":
            raise ValueError(f"expected an 8-bit grayscale image, got mode {image.mode!r}")
        data = image.tobytes()
        self._lib.TessBaseAPISetImage(self._api, data, image.width, image.height, 1, image.width)
        ptr = self._lib.TessBaseAPIGetTsvText(self._api, 0)
        try:
            return ctypes.string_at(ptr).decode("utf-8", errors="replace") if ptr else ""
        finally:
            if ptr:
                self._lib.TessDeleteText(ptr)
            self._lib.TessBaseAPIClear(self._api)

    def close(self) -> None:
        if self._api is not None:
            self._lib.TessBaseAPIEnd(self._api)
            self._lib.TessBaseAPIDelete(self._api)
            self._api = None
