"""libtesseract in worker processes: a worker that crashes or hangs on a page costs that page a
second reading (or a typed error), never the job. The workers here are the real ones, started
by a wrapper that makes them abort (or sleep) on a marked page: one whose top-left pixel is black."""

from __future__ import annotations

import pathlib
import sys

import pytest
from PIL import Image, ImageDraw

from local_backend.pages import ReaderSettings
from local_backend.pages.ocr import OcrPool, OcrSettings
from local_backend.pages.reader import read_pages
from local_backend.pages.tesseract_lib import EngineProcess, load_library
from vertex_mm.errors import InvalidImageError
from vertex_mm.pages import expand_sources

pytestmark = [pytest.mark.usefixtures("tesseract"),
              pytest.mark.skipif(load_library() is None, reason="libtesseract.so.5 not installed")]

_MISBEHAVING_WORKER = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("tesseract_lib", {path!r})
lib = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lib)
read = lib.read_page
def read_page(engine, pixels, width, height):
    if pixels[0] < 64:  # the marked page
        {action}
    return read(engine, pixels, width, height)
lib.read_page = read_page
lib.serve(sys.stdin.buffer, sys.stdout.buffer)
"""


class _MarkedPagePool(OcrPool):
    """An OcrPool whose library workers misbehave (``action``) on a marked page."""

    action = "os.abort()"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pids: list[int] = []

    def _new_worker(self) -> EngineProcess:
        import local_backend.pages.tesseract_lib as lib

        script = _MISBEHAVING_WORKER.format(path=lib.__file__, action=self.action)
        worker = EngineProcess([sys.executable, "-I", "-c", script])
        self.pids.append(worker.pid)
        return worker


def _scanned_pdf(pdfs: pathlib.Path, dest: pathlib.Path, *, marked: int) -> pathlib.Path:
    """A 3-page image-only PDF of real pages (rq.pdf 7 and 15, party.pdf 7), page ``marked`` marked."""
    import pypdfium2 as pdfium

    images = []
    for i, (name, page) in enumerate([("rq.pdf", 7), ("rq.pdf", 15), ("party.pdf", 7)]):
        doc = pdfium.PdfDocument(str(pdfs / name))
        img = doc[page - 1].render(scale=150 / 72).to_pil().convert("L")
        doc.close()
        if i == marked:
            ImageDraw.Draw(img).rectangle((0, 0, 12, 12), fill=0)
        images.append(img)
    images[0].save(dest, save_all=True, append_images=images[1:], resolution=150)
    return dest


def _read(pool: OcrPool, pdf: pathlib.Path) -> list:
    return list(read_pages(expand_sources([pdf]), pool, ReaderSettings(images=False)))


def test_a_worker_crash_costs_one_page_a_second_reading_not_the_job(tmp_path, pdfs):
    pdf = _scanned_pdf(pdfs, tmp_path / "scans.pdf", marked=1)
    with _MarkedPagePool(1, cache_dir=tmp_path / "cache", settings=OcrSettings(engine="library")) as pool:
        pages = _read(pool, pdf)
        assert pool.crashes == 1 and len(pool.pids) == 2  # the worker died once and was replaced
    assert [p.error for p in pages] == [None, None, None]
    assert all(p.ocr_pages == 1 for p in pages)
    texts = [p.text.text for p in pages]
    assert "Engel" in texts[0] and "motorcycle" in texts[1].lower() and len(pages[2].text.words) > 20
    # the pages the library read are cached; the one the CLI read after the crash is not
    with OcrPool(1, cache_dir=tmp_path / "cache", settings=OcrSettings(engine="library")) as again:
        assert [p.ocr_cached for p in _read(again, pdf)] == [1, 0, 1]


@pytest.mark.slow
def test_a_worker_that_hangs_is_killed_and_its_page_is_a_typed_error(tmp_path, pdfs):
    pdf = _scanned_pdf(pdfs, tmp_path / "scans.pdf", marked=0)

    class Hanging(_MarkedPagePool):
        action = "time.sleep(600)"

    settings = OcrSettings(engine="library", timeout_s=10)  # wide: the other pages must not run out
    with Hanging(1, use_cache=False, settings=settings) as pool:
        pages = _read(pool, pdf)
        assert len(pool.pids) == 2 and pool.crashes == 0
    assert isinstance(pages[0].error, InvalidImageError) and "timeout_s" in str(pages[0].error)
    assert pages[0].error.input_name == pages[0].ref.page_id
    assert [p.error for p in pages[1:]] == [None, None] and all(p.text.words for p in pages[1:])


def test_a_worker_reads_many_pages_and_ends_with_the_pool(tmp_path):
    white = Image.new("L", (200, 100), 255)
    with OcrPool(2, use_cache=False, settings=OcrSettings(engine="library")) as pool:
        results = [f.result() for f in [pool.submit(white) for _ in range(6)]]
        workers = list(pool._workers)
        assert 1 <= len(workers) <= 2
    assert all(r.words == [] for r in results)
    assert all(w._proc.returncode == 0 for w in workers)


class _NoProcessPool(OcrPool):
    """An OcrPool that cannot start a worker process (the OS refuses: too many open files)."""

    def _new_worker(self) -> EngineProcess:
        raise OSError(24, "Too many open files")


def test_a_worker_that_cannot_start_costs_its_pages_a_cli_reading_not_the_job(tmp_path, pdfs):
    pdf = _scanned_pdf(pdfs, tmp_path / "scans.pdf", marked=-1)
    with _NoProcessPool(1, use_cache=False, settings=OcrSettings(engine="library")) as pool:
        pages = _read(pool, pdf)
        assert pool.crashes == 3
    assert [p.error for p in pages] == [None, None, None]
    assert "Engel" in pages[0].text.text
