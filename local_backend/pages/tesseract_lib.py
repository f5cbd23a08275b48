"""libtesseract through ctypes, in worker processes: one engine per worker, the model loaded once.

Why: the ``tesseract`` CLI loads its model (and, for ``--psm 1``, the orientation model) for
every page, and the page has to be encoded to cross the pipe. A loaded engine reads the next
page straight from the pixel buffer: image-only indexing of the fixture's 96 dev pages took
1.20 CPU-s a page with it and 1.40 with the CLI (150 dpi, ``--psm 3``; OCR is about 70% of
it, the dense encoder most of the rest), with the same words on every page.

Why in a worker process (:class:`EngineProcess`, this file run as a script) and not in the
caller's: a crash inside tesseract (one unexplained segfault was seen while measuring it in
process) then ends one worker, not the indexing job, and :class:`~.ocr.OcrPool` reads that
page again with the CLI; a page that hangs is killed after its timeout. The worker imports
nothing but the standard library, so libtesseract binds to its own OpenMP runtime, held to one
thread by ``OMP_THREAD_LIMIT=1``, not to torch's. A page crosses as raw 8-bit pixels (2 MB
at 150 dpi: about a millisecond), the TSV comes back.

Nothing is compiled: ``libtesseract.so.5`` ships with Debian's ``tesseract-ocr`` package (its
dependency ``libtesseract5``). :func:`load_library` returns ``None`` where it cannot be loaded.
:func:`library_available` asks a short-lived worker, so that the caller never loads libtesseract
(and its OpenMP runtime) itself; :class:`~.ocr.OcrPool` falls back to the CLI where it says no.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import os
import select
import subprocess
import sys
import time
from typing import IO, Any

__all__ = ["EngineProcess", "TesseractEngine", "WorkerCrashed", "WorkerTimeout", "library_available", "load_library"]

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


@functools.lru_cache(maxsize=1)
def library_available() -> bool:
    """Whether a worker can load libtesseract (checked once per process, in a child process)."""
    try:
        probe = subprocess.run([sys.executable, "-I", os.path.abspath(__file__), "--probe"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def _declare(fn: Any, argtypes: list[Any], restype: Any) -> None:
    fn.argtypes = argtypes
    fn.restype = restype


class TesseractEngine:
    """One loaded tesseract engine; use it from one thread at a time (a worker process holds them).

    >>> engine = TesseractEngine("eng", psm=3, variables={"tessedit_do_invert": "0"})  # doctest: +SKIP
    >>> tsv = engine.read(gray_pixels, width, height)                                  # doctest: +SKIP
    """

    def __init__(self, lang: str, *, psm: int, variables: dict[str, str] | None = None) -> None:
        lib = load_library()
        if lib is None:
            raise OSError("libtesseract could not be loaded")
        self._lib = lib
        self._api = lib.TessBaseAPICreate()
        if not self._api:
            self._api = None
            raise MemoryError("libtesseract could not create an engine (TessBaseAPICreate returned NULL)")
        if lib.TessBaseAPIInit3(self._api, None, lang.encode()) != 0:
            self.close()
            raise ValueError(f"tesseract could not load the language {lang!r}")
        lib.TessBaseAPISetPageSegMode(self._api, psm)
        # tesseract's diagnostics ("Detected 90 diacritics") would go to stderr: drop them.
        for key, value in {"debug_file": os.devnull, **(variables or {})}.items():
            if not lib.TessBaseAPISetVariable(self._api, key.encode(), value.encode()):
                self.close()
                raise ValueError(f"tesseract has no setting {key!r}")

    def read(self, pixels: bytes, width: int, height: int) -> str:
        """tesseract's TSV (no header line) of an 8-bit grayscale image, ``width`` x ``height``."""
        if self._api is None:
            raise RuntimeError("the tesseract engine is closed")
        if len(pixels) != width * height:
            raise ValueError(f"expected {width}x{height} = {width * height} bytes of 8-bit gray, got {len(pixels)}")
        self._lib.TessBaseAPISetImage(self._api, pixels, width, height, 1, width)
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


class WorkerCrashed(RuntimeError):
    """The worker process ended while reading a page (tesseract crashed); ``returncode`` says how."""

    def __init__(self, message: str, returncode: int | None) -> None:
        super().__init__(message)
        self.returncode = returncode


class WorkerTimeout(RuntimeError):
    """The worker did not answer within the page's timeout; it was killed."""


class EngineProcess:
    """A worker process holding loaded tesseract engines (one per language/psm/variables).

    >>> worker = EngineProcess()                                          # doctest: +SKIP
    >>> tsv = worker.read(gray_image, lang="eng", psm=3, variables={}, timeout_s=120)   # doctest: +SKIP

    One page at a time; a crash raises :class:`WorkerCrashed` and a hang :class:`WorkerTimeout`,
    and the worker is gone after either (make a new one). ``command``: how to start the worker
    (default: this file under the running Python).
    """

    def __init__(self, command: list[str] | None = None) -> None:
        cmd = command or [sys.executable, "-I", os.path.abspath(__file__)]  # -I: stdlib only, no script dir
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def read(self, image: Any, *, lang: str, psm: int, variables: dict[str, str], timeout_s: float) -> str:
        """The TSV of an 8-bit grayscale PIL image."""
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        header = {"lang": lang, "psm": psm, "variables": variables, "width": image.width, "height": image.height}
        deadline = time.monotonic() + timeout_s
        try:
            stdin.write(json.dumps(header).encode() + b"\n" + image.tobytes())
            stdin.flush()
            status, _, size = _read_exactly(stdout, 0, deadline, line=True).decode().partition(" ")
            body = _read_exactly(stdout, int(size), deadline).decode("utf-8", errors="replace")
        except (BrokenPipeError, EOFError, ValueError) as exc:
            self.kill()
            raise WorkerCrashed(f"the tesseract worker ended (exit {self._proc.returncode})", self._proc.returncode) from exc
        except TimeoutError:
            self.kill()
            raise WorkerTimeout(f"tesseract took longer than {timeout_s:g}s") from None
        if status != "OK":
            raise ValueError(body)
        return body

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._close_pipes()

    def close(self) -> None:
        """Let the worker end (its input closes), killing it if it does not within 10 s."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # a broken pipe with data left to flush
                    pass


def _read_exactly(f: IO[bytes], n: int, deadline: float, *, line: bool = False) -> bytes:
    """``n`` bytes (or, with ``line``, one line without its newline) from a pipe, by ``deadline``."""
    buf = b""
    while (b"\n" not in buf) if line else (len(buf) < n):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([f], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(f.fileno(), 1 << 16 if not line else 1)
        if not chunk:
            raise EOFError
        buf += chunk
    return buf.rstrip(b"\n") if line else buf


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The worker's loop: a JSON header line and the pixels in, ``OK <n>\\n`` and the TSV out."""
    engines: dict[str, TesseractEngine] = {}
    while True:
        line = stdin.readline()
        if not line:
            return
        job = json.loads(line)
        pixels = stdin.read(job["width"] * job["height"])
        key = json.dumps([job["lang"], job["psm"], job["variables"]])
        try:
            engine = engines.get(key)
            if engine is None:
                engine = engines[key] = TesseractEngine(job["lang"], psm=job["psm"], variables=job["variables"])
            status, body = "OK", read_page(engine, pixels, job["width"], job["height"]).encode()
        except (ValueError, OSError, MemoryError) as exc:
            status, body = "ERR", str(exc).encode()
        stdout.write(f"{status} {len(body)}\n".encode() + body)
        stdout.flush()


def read_page(engine: TesseractEngine, pixels: bytes, width: int, height: int) -> str:
    """What a worker does with a page (a test's worker replaces it to crash on a marked page)."""
    return engine.read(pixels, width, height)


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        sys.exit(0 if load_library() is not None else 1)
    serve(sys.stdin.buffer, sys.stdout.buffer)
