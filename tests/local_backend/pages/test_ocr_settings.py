"""OCR settings: each one reaches tesseract, each one that changes the words changes the cache
key, the in-process engine reads what the CLI reads, and image-only indexing OCRs every page."""

from __future__ import annotations

import dataclasses
import os
import pathlib

import pytest
from PIL import Image

from local_backend.pages import OcrAssistedPageRetriever, ReaderSettings
from local_backend.pages.ocr import OcrPool, OcrSettings
from local_backend.pages.reader import read_pages
from local_backend.pages.tesseract_lib import load_library
from vertex_mm.errors import InputError
from vertex_mm.pages import PageRef, expand_sources

needs_library = pytest.mark.skipif(load_library() is None, reason="libtesseract.so.5 not installed")


def test_settings_become_tesseract_options():
    assert OcrSettings().args() == ["-l", "eng", "--psm", "3"]
    assert OcrSettings(lang="deu", psm=3, invert=False).args() == ["-l", "deu", "--psm", "3", "-c", "tessedit_do_invert=0"]


@pytest.mark.parametrize("bad", [{"psm": 14}, {"psm": -1}, {"upscale_to": -5}, {"engine": "gpu"}, {"reread_below": 101}])
def test_bad_settings_are_a_typed_error_naming_the_setting(bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        OcrSettings(**bad)


@pytest.mark.usefixtures("tesseract")
def test_cache_key_changes_with_every_setting_that_changes_the_words(tmp_path):
    image = Image.new("L", (300, 200), 255)
    with OcrPool(1, cache_dir=tmp_path) as pool:
        base = OcrSettings()
        keys = {pool.cache_key(image, base)}
        changes = ({"psm": 1}, {"invert": False}, {"upscale_to": 0}, {"min_confidence": 60.0}, {"lang": "deu"},
                   {"reread_below": 0.0}, {"reread_below": 50.0})
        for change in changes:
            keys.add(pool.cache_key(image, dataclasses.replace(base, **change)))
        assert len(keys) == 1 + len(changes)
        # the reread threshold applies to psm 3 only: with psm 1 it changes nothing
        psm1 = dataclasses.replace(base, psm=1)
        assert pool.cache_key(image, psm1) == pool.cache_key(image, dataclasses.replace(psm1, reread_below=0.0))
        # an image rendered at the OCR resolution is not upscaled: the key of "no upscaling"
        assert pool.cache_key(image, base, rendered=True) != pool.cache_key(image, base)
        assert pool.cache_key(image, base, rendered=True) == pool.cache_key(image, dataclasses.replace(base, upscale_to=0))
        # other pixels, another key; the key holds the engine the pool runs, not the one asked for
        assert pool.cache_key(Image.new("L", (300, 200), 0), base) not in keys
        assert pool.cache_key(image, dataclasses.replace(base, engine="library")) == pool.cache_key(image, base)



class _RecordingPool(OcrPool):
    """An OcrPool that remembers what it was asked to read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[tuple[int, int], bool]] = []

    def submit(self, image, *, settings=None, name="image", rendered=False):
        self.seen.append((image.size, rendered))
        return super().submit(image, settings=settings, name=name, rendered=rendered)


@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize("dpi", [100, 150])
def test_pages_are_rendered_for_ocr_at_the_chosen_dpi_and_not_upscaled(tmp_path, pdfs, dpi):
    ref = PageRef(pdfs / "rq.pdf", 7)  # US letter: 612 x 792 points
    with _RecordingPool(1, cache_dir=tmp_path, settings=OcrSettings(psm=3)) as pool:
        [page] = read_pages([ref], pool, ReaderSettings(force_ocr=True, ocr_dpi=dpi, images=False))
    [(size, rendered)] = pool.seen
    want = (612 * dpi / 72, 792 * dpi / 72)
    assert rendered and all(abs(got - w) <= 1 for got, w in zip(size, want))  # pdfium rounds up
    assert page.ocr_pages == 1 and page.text.source == "ocr" and "Engel" in page.text.text


@pytest.mark.usefixtures("tesseract")
def test_an_image_of_unknown_resolution_is_upscaled_as_the_setting_says(tmp_path):
    from local_backend.pages.ocr import _prepare

    small = Image.new("RGB", (500, 400), "white")
    assert _prepare(small, OcrSettings().upscale_to).size == (2000, 1600)
    assert _prepare(small, 0).size == (500, 400) and _prepare(small, 0).mode == "L"


def _read(png: pathlib.Path, engine: str, psm: int, invert: bool) -> list[tuple[str, str]]:
    settings = OcrSettings(engine=engine, psm=psm, invert=invert, reread_below=0)
    with OcrPool(1, use_cache=False, settings=settings) as pool:
        assert pool.engine == engine
        return [(w.text, repr(w.box)) for w in pool.submit(Image.open(png)).result().words]


@needs_library
@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize(("psm", "invert"), [(1, True), (3, False)])
def test_the_library_engine_reads_the_words_the_cli_reads(tmp_path, pdfs, page_png, psm, invert):
    png = page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png")
    words = _read(png, "cli", psm, invert)
    assert _read(png, "library", psm, invert) == words and len(words) > 50


@needs_library
@pytest.mark.usefixtures("tesseract")
def test_the_library_engine_honours_the_page_segmentation_mode(tmp_path, pdfs, page_png):
    # Page 5 prints its figure sideways: psm 1 detects the orientation, psm 3 does not.
    png = page_png(pdfs / "residual-shadings.pdf", 5, tmp_path / "p5.png")
    assert "Mosaic" in {w for w, _ in _read(png, "library", 1, True)}
    assert "Mosaic" not in {w for w, _ in _read(png, "library", 3, True)}


@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize("engine", ["cli", "auto"])
def test_a_low_confidence_page_is_read_again_with_orientation_detection(tmp_path, pdfs, page_png, engine):
    sideways = Image.open(page_png(pdfs / "residual-shadings.pdf", 5, tmp_path / "p5.png"))
    upright = Image.open(page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png"))
    with OcrPool(1, use_cache=False, settings=OcrSettings(engine=engine)) as pool:
        assert pool.settings.psm == 3
        assert "Corporal" in {w.text for w in pool.submit(upright).result().words} and pool.rereads == 0
        assert "Mosaic" in {w.text for w in pool.submit(sideways).result().words} and pool.rereads == 1


@pytest.mark.usefixtures("tesseract")
def test_image_only_indexing_ocrs_every_page_even_with_a_text_layer(tmp_path, pdfs, page_pdf):
    pdfs_ = [page_pdf(pdfs / "rq.pdf", 7, tmp_path / "engel.pdf"), page_pdf(pdfs / "rq.pdf", 15, tmp_path / "moto.pdf")]
    r = OcrAssistedPageRetriever(components=("lexical",), reader=ReaderSettings(force_ocr=True), use_ocr_cache=False,
                                 ocr=OcrSettings(psm=3, invert=False), ocr_workers=1)
    stats = r.index(expand_sources(pdfs_))
    assert stats.pages == 2 and stats.ocr_pages == 2 and stats.text_layer_pages == 0
    assert all(p.source == "ocr" for p in r.pages) and all(w.source == "ocr" for p in r.pages for w in p.words)
    assert r.search(["Engel curve food expenditure"], k=1)[0][0].page_id == "engel#1"


@pytest.mark.usefixtures("tesseract")
def test_index_stats_count_the_pages_read_again_for_orientation(tmp_path, pdfs, page_pdf):
    pdfs_ = [page_pdf(pdfs / "residual-shadings.pdf", 5, tmp_path / "sideways.pdf"),
             page_pdf(pdfs / "rq.pdf", 7, tmp_path / "engel.pdf")]
    r = OcrAssistedPageRetriever(components=("lexical",), reader=ReaderSettings(force_ocr=True), use_ocr_cache=False,
                                 ocr=OcrSettings(engine="cli"), ocr_workers=1)
    stats = r.index(expand_sources(pdfs_))
    assert (stats.ocr_pages, stats.ocr_rereads, stats.ocr_crashes) == (2, 1, 0)
    assert "1 re-read for orientation" in stats.reading() and "crash" not in stats.reading()


@needs_library
@pytest.mark.usefixtures("tesseract")
def test_a_library_worker_reads_on_one_thread_in_its_own_process(tmp_path, pdfs, page_png):
    # tesseract asks for 4-thread OpenMP teams; on a 2-core machine two workers' teams spun
    # five times the CPU of the reading itself. The worker is held to one thread, and this
    # process gains no thread but the pool's own.
    if not pathlib.Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc")
    image = Image.open(page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png"))
    before = len(os.listdir("/proc/self/task"))
    with OcrPool(1, use_cache=False, settings=OcrSettings(engine="library")) as pool:
        assert pool.submit(image).result().words
        [worker] = pool._workers
        assert len(os.listdir(f"/proc/{worker.pid}/task")) == 1
        assert len(os.listdir("/proc/self/task")) - before <= 1


def test_the_two_engines_never_share_cache_entries():
    from local_backend.pages.tesseract_lib import load_library

    if load_library() is None:
        pytest.skip("libtesseract does not load here")
    image = Image.new("L", (300, 200), 255)
    with OcrPool(1, use_cache=False, settings=OcrSettings(engine="cli")) as cli, \
            OcrPool(1, use_cache=False, settings=OcrSettings(engine="library")) as lib:
        assert (cli.engine, lib.engine) == ("cli", "library")
        assert cli.cache_key(image) != lib.cache_key(image)
