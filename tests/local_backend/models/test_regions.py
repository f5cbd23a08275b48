"""The offline region embedder on real rendered pages (EfficientNet-Lite0 + MiniLM weights)."""

from __future__ import annotations

import numpy as np
import pytest
from page_fixtures import PDF_FIXTURE
from PIL import Image

from vertex_mm.errors import InputError
from vertex_mm.late_interaction import maxsim
from vertex_mm.pages import MultiVectorEmbedder, iter_pdf_pages

regions = pytest.importorskip("local_backend.models.regions")
registry = pytest.importorskip("local_backend.models.registry")


@pytest.fixture(scope="module")
def embedder():
    try:
        return registry.create_page_embedder("regions")
    except Exception as exc:  # weights packages are in the 'local' extra
        pytest.skip(f"offline ConSE model unavailable: {exc}")


@pytest.fixture
def fixture_pdfs():
    return PDF_FIXTURE


def test_regions_is_a_page_model_of_the_registry():
    cfg = registry.get_model_config("regions")
    assert cfg["kind"] == "pages" and set(cfg["modalities"]) == {"page", "query"} and cfg["native_dim"] == 384
    assert registry.get_model_config("efficientnet-lite0")["kind"] == "embedding"  # the default kind


def test_get_embedder_refuses_a_page_model():
    from vertex_mm import get_embedder

    with pytest.raises(InputError, match="'regions' is a 'pages' model; get_embedder"):
        get_embedder("local", model="regions")


def test_create_page_embedder_refuses_an_embedding_model():
    with pytest.raises(InputError, match="page search needs a model of kind 'pages': "
                       "colmodernvbert, colpali, colpali-engine, colqwen2, regions"):
        registry.create_page_embedder("efficientnet-lite0")


def test_a_page_config_must_declare_page_modalities():
    with pytest.raises(ValueError, match="modalities of a 'pages' model"):
        registry.register_model_config(
            {"name": "bad-pages", "kind": "pages", "factory": "x:y", "modalities": ["image"], "native_dim": 8})


def test_tiles_cover_the_whole_page():
    tiles = regions.page_tiles(Image.new("RGB", (200, 330)), columns=2)
    assert len(tiles) == 8 and all(t.size == (100, 100) for t in tiles)


def test_query_terms_drop_stop_words_and_repeats():
    assert regions.query_terms("a chart of the dog and the dog's ball") == ["dog", "ball"]


def test_pages_become_region_vectors_in_the_joint_space(embedder, fixture_pdfs):
    assert isinstance(embedder, regions.RegionConSEEmbedder) and isinstance(embedder, MultiVectorEmbedder)
    page = next(iter_pdf_pages(fixture_pdfs / "corpus" / "zoo-design.pdf", dpi=36))
    [vecs] = embedder.embed_pages([page])
    # A4 at two tiles across: 2 x 3 tiles of 49 cells each, plus one whole-page vector.
    assert vecs.shape == (6 * 49 + 1, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert embedder.space.dimension == 384 and "regions" in embedder.space.variant


def test_a_query_naming_what_a_region_shows_ranks_that_page_first(embedder, fixture_pdfs):
    # Ask the model what it sees in the sticker page, then search for that by name: late
    # interaction must match the query word to the sticker's regions, not to a page of text.
    sticker = next(iter_pdf_pages(fixture_pdfs / "corpus" / "effects-hex.pdf", dpi=72))
    text = next(iter_pdf_pages(fixture_pdfs / "corpus" / "zoo-design.pdf", dpi=36))
    seen = embedder.model.top_classes([sticker.image], k=1)[0][0][0]
    scores = maxsim(embedder.embed_queries([seen]), embedder.embed_pages([sticker, text]))
    assert scores[0, 0] > scores[0, 1], (seen, scores)


def test_a_tall_strip_is_shrunk_before_its_whole_page_canvas_and_a_normal_page_is_not():
    from local_backend.models.regions import LETTERBOX_MAX_SIDE, _letterbox

    strip = _letterbox(Image.new("RGB", (1280, 20000), "white"))  # was a 20000 x 20000 canvas (1.2 GB)
    assert strip.size == (LETTERBOX_MAX_SIDE, LETTERBOX_MAX_SIDE)
    page = Image.new("RGB", (2480, 3508), "white")  # A4 at 300 dpi: letterboxed as it is
    assert _letterbox(page).size == (3508, 3508)


def test_region_vectors_do_not_depend_on_how_many_tiles_go_through_the_cnn_at_once(embedder, monkeypatch):
    from local_backend.models import conse

    rng = np.random.default_rng(0)
    tiles = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(5)]
    model = embedder.model
    monkeypatch.setattr(conse, "REGION_CHUNK", 2)  # 3 passes: 2 + 2 + 1
    chunked = model.encode_image_regions(tiles)
    monkeypatch.setattr(conse, "REGION_CHUNK", 16)  # one pass
    whole = model.encode_image_regions(tiles)
    assert len(chunked) == 5 and all(a.shape == (49, model.native_dim) for a in chunked)
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a, b, atol=1e-5)
