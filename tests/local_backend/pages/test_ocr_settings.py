"""OCR settings: each one reaches tesseract, each one that changes the words changes the cache
key, the in-process engine reads what the CLI reads, and image-only indexing OCRs every page."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

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
    assert OcrSettings().args() == ["-l", "eng", "--psm", "1"]
    assert OcrSettings(lang="deu", psm=3, invert=False).args() == ["-l", "deu", "--psm", "3", "-c", "tessedit_do_invert=0"]


@pytest.mark.parametrize("bad", [{"psm": 14}, {"psm": -1}, {"upscale_to": -5}, {"engine": "gpu"}])
def test_bad_settings_are_a_typed_error_naming_the_setting(bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        OcrSettings(**bad)


@pytest.mark.usefixtures("tesseract")
def test_cache_key_changes_with_every_setting_that_changes_the_words(tmp_path):
    image = Image.new("L", (300, 200), 255)
    with OcrPool(1, cache_dir=tmp_path) as pool:
        base = OcrSettings()
        keys = {pool.cache_key(image, base)}
        for change in ({"psm": 3}, {"invert": False}, {"upscale_to": 0}, {"min_confidence": 60.0}, {"lang": "deu"}):
            keys.add(pool.cache_key(image, dataclasses.replace(base, **change)))
        assert len(keys) == 6
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


# The library engine runs in a child process in these tests: libtesseract binds to torch's OpenMP
# runtime, and what it does there (its worker threads' OpenMP settings) would change how torch
# computes in the rest of the test process (a bfloat16 test elsewhere then differs in the last bit).
_WORDS_PROBE = """
import json, sys
from PIL import Image
from local_backend.pages.ocr import OcrPool, OcrSettings
image, out = Image.open(sys.argv[1]), {}
for spec in sys.argv[2:]:
    engine, psm, invert = spec.split(",")
    with OcrPool(1, use_cache=False, settings=OcrSettings(engine=engine, psm=int(psm), invert=invert == "1")) as pool:
        assert pool.engine == engine
        out[spec] = [[w.text, repr(w.box)] for w in pool.submit(image).result().words]
print(json.dumps(out))
"""


def _read_in_child(png: pathlib.Path, *specs: str) -> dict:
    """Words read by each ``engine,psm,invert`` spec, in a fresh process."""
    root = pathlib.Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _WORDS_PROBE, str(png), *specs], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_library
@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize(("psm", "invert"), [(1, 1), (3, 0)])
def test_the_library_engine_reads_the_words_the_cli_reads(tmp_path, pdfs, page_png, psm, invert):
    png = page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png")
    words = _read_in_child(png, f"library,{psm},{invert}", f"cli,{psm},{invert}")
    assert words[f"library,{psm},{invert}"] == words[f"cli,{psm},{invert}"] and len(words[f"cli,{psm},{invert}"]) > 50


@needs_library
@pytest.mark.usefixtures("tesseract")
def test_the_library_engine_honours_the_page_segmentation_mode(tmp_path, pdfs, page_png):
    # Page 5 prints its figure sideways: psm 1 detects the orientation, psm 3 does not.
    png = page_png(pdfs / "residual-shadings.pdf", 5, tmp_path / "p5.png")
    read = {spec: {w[0] for w in words} for spec, words in _read_in_child(png, "library,1,1", "library,3,1").items()}
    assert "Mosaic" in read["library,1,1"] and "Mosaic" not in read["library,3,1"]


@pytest.mark.usefixtures("tesseract")
def test_image_only_indexing_ocrs_every_page_even_with_a_text_layer(tmp_path, pdfs, page_pdf):
    pdfs_ = [page_pdf(pdfs / "rq.pdf", 7, tmp_path / "engel.pdf"), page_pdf(pdfs / "rq.pdf", 15, tmp_path / "moto.pdf")]
    r = OcrAssistedPageRetriever(components=("lexical",), reader=ReaderSettings(force_ocr=True), use_ocr_cache=False,
                                 ocr=OcrSettings(psm=3, invert=False), ocr_workers=1)
    stats = r.index(expand_sources(pdfs_))
    assert stats.pages == 2 and stats.ocr_pages == 2 and stats.text_layer_pages == 0
    assert all(p.source == "ocr" for p in r.pages) and all(w.source == "ocr" for p in r.pages for w in p.words)
    assert r.search(["Engel curve food expenditure"], k=1)[0][0].page_id == "engel#1"


_THREADS_PROBE = """
import os, sys
import torch  # first, as in the retriever's benchmark: libtesseract then binds to torch's libgomp
from PIL import Image
from local_backend.pages.ocr import OcrPool, OcrSettings
image = Image.open(sys.argv[1])
before = len(os.listdir("/proc/self/task"))
with OcrPool(1, use_cache=False, settings=OcrSettings(engine="library")) as pool:
    assert pool.submit(image).result().words
    print(len(os.listdir("/proc/self/task")) - before)
"""


@needs_library
@pytest.mark.usefixtures("tesseract")
def test_a_library_worker_reads_on_its_own_thread_without_an_openmp_team(tmp_path, pdfs, page_png):
    # tesseract asks for 4-thread OpenMP teams; on a 2-core machine two workers' teams spun
    # five times the CPU of the reading itself. A fresh process, so that torch loads first.
    if not pathlib.Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc")
    png = page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png")
    root = pathlib.Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    env.pop("OMP_THREAD_LIMIT", None)
    out = subprocess.run([sys.executable, "-c", _THREADS_PROBE, str(png)], capture_output=True, text=True, env=env,
                         timeout=300, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) <= 1  # the worker thread, no team



def test_the_two_engines_never_share_cache_entries():
    from local_backend.pages.tesseract_lib import load_library

    if load_library() is None:
        pytest.skip("libtesseract does not load here")
    image = Image.new("L", (300, 200), 255)
    with OcrPool(1, use_cache=False, settings=OcrSettings(engine="cli")) as cli, \
            OcrPool(1, use_cache=False, settings=OcrSettings(engine="library")) as lib:
        assert (cli.engine, lib.engine) == ("cli", "library")
        assert cli.cache_key(image) != lib.cache_key(image)
