"""tesseract through the CLI: real page images, TSV parsing, the on-disk cache."""

from __future__ import annotations

import pytest
from PIL import Image

from local_backend.pages.ocr import OcrPool, OcrSettings, parse_tsv, tesseract_version
from vertex_mm.errors import InvalidImageError, MissingDependencyError

TSV = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    "1\t1\t0\t0\t0\t0\t0\t0\t200\t100\t-1\t\n"
    "5\t1\t1\t1\t1\t1\t10\t20\t50\t10\t96.5\tMosaic\n"
    "5\t1\t1\t1\t1\t2\t70\t20\t40\t10\t12.0\tz~\n"
    "5\t1\t1\t1\t1\t3\t120\t20\t30\t10\t91\t \n"
)


def test_parse_tsv_keeps_confident_words_in_image_fractions():
    words = parse_tsv(TSV, 200, 100, min_confidence=40)
    assert [w.text for w in words] == ["Mosaic"]
    b = words[0].box
    assert (b.x0, b.y0, b.x1, b.y1) == (0.05, 0.2, 0.3, 0.3)
    assert words[0].source == "ocr"


def test_missing_binary_names_the_debian_package():
    with pytest.raises(MissingDependencyError, match="tesseract-ocr"):
        tesseract_version("no-such-tesseract-binary")


@pytest.mark.usefixtures("tesseract")
def test_reads_a_scanned_page_and_caches_the_result(tmp_path, pdfs, page_png):
    png = page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png")
    image = Image.open(png)
    with OcrPool(1, cache_dir=tmp_path / "cache") as pool:
        first = pool.submit(image).result()
        second = pool.submit(image).result()
    text = " ".join(w.text for w in first.words)
    assert "Corporal" in text and "punishment" in text
    assert not first.cached and second.cached
    assert [w.text for w in second.words] == [w.text for w in first.words]
    assert (pool.hits, pool.misses) == (1, 1)


@pytest.mark.usefixtures("tesseract")
def test_sideways_page_is_read_upright(tmp_path, pdfs, page_png):
    # Page 5 of the vcd vignette prints its figure and caption rotated by 90 degrees.
    png = page_png(pdfs / "residual-shadings.pdf", 5, tmp_path / "p5.png")
    with OcrPool(1, cache_dir=tmp_path / "cache") as pool:
        words = pool.submit(Image.open(png)).result().words
    assert "Mosaic" in {w.text for w in words}


@pytest.mark.usefixtures("tesseract")
def test_unreadable_image_raises_typed_error(tmp_path):
    with OcrPool(1, cache_dir=tmp_path / "cache", settings=OcrSettings(lang="no-such-language")) as pool:
        with pytest.raises(InvalidImageError, match="tesseract failed"):
            pool.submit(Image.new("L", (64, 64), 255), name="blank").result()


@pytest.mark.usefixtures("tesseract")
def test_a_cache_file_that_cannot_be_read_is_a_miss(tmp_path, pdfs, page_png):
    # A shared cache can hold a file this account cannot read: the page is read again (before,
    # OSError ended the whole indexing run). /proc/self/mem raises EIO on read, even for root.
    png = page_png(pdfs / "residual-shadings.pdf", 7, tmp_path / "p7.png")
    image = Image.open(png)
    with OcrPool(1, cache_dir=tmp_path / "cache") as pool:
        key = pool.cache_key(image, pool.settings)
        path = tmp_path / "cache" / key[:2] / f"{key}.json"
        path.parent.mkdir(parents=True)
        path.symlink_to("/proc/self/mem")
        words = pool.submit(image).result().words
    assert "Corporal" in {w.text for w in words} and (pool.hits, pool.misses) == (0, 1)
