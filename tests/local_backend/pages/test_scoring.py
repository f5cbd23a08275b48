"""BM25, word windows, fusion arithmetic and the layout signal, on small real texts."""

from __future__ import annotations

import numpy as np
import pytest

from local_backend.pages.dense import word_windows
from local_backend.pages.fusion import DEFAULT_WEIGHTS, Fusion, ranks, zscores
from local_backend.pages.layout import page_layout, query_intent
from local_backend.pages.lexical import LexicalScorer
from local_backend.pages.words import Box, PageText, Word

PAGES = [
    "Figure 2: Quantile regression lines for the Engel food expenditure data",
    "References. Koenker R. Quantile regression. Cambridge University Press, 2005.",
    "The motorcycle data: acceleration against milliseconds after impact",
]


def test_bm25_prefers_the_page_with_the_rare_words():
    s = LexicalScorer().fit(PAGES).scores("engel food expenditure")
    assert int(np.argmax(s)) == 0
    assert s[2] == 0


def test_bm25_stems_plurals_and_ignores_unknown_words():
    s = LexicalScorer().fit(PAGES).scores("motorcycles accelerations zyzzyva")
    assert int(np.argmax(s)) == 2
    assert LexicalScorer().fit(PAGES).scores("the of and").tolist() == [0, 0, 0]


def test_bm25_idf_weights_a_word_on_every_page_less():
    pages = ["quantile plot alpha", "quantile plot beta", "quantile gamma"]
    s = LexicalScorer().fit(pages).scores("quantile beta")
    assert int(np.argmax(s)) == 1


def test_word_windows_overlap_and_cover_the_tail():
    words = [str(i) for i in range(10)]
    assert word_windows(words, 4, 2) == ["0 1 2 3", "2 3 4 5", "4 5 6 7", "6 7 8 9"]
    assert word_windows(words[:3], 4, 2) == ["0 1 2"]
    assert word_windows(words[:9], 4, 4)[-1] == "5 6 7 8"
    assert word_windows([], 4, 2) == []


def test_zscores_standardise_each_query_and_leave_constant_rows_at_zero():
    z = zscores(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    assert np.allclose(z[0], [-1.2247, 0, 1.2247], atol=1e-4)
    assert np.all(z[1] == 0)


def test_ranks_are_one_based_per_query():
    assert ranks(np.array([[0.1, 0.9, 0.5]])).tolist() == [[3, 1, 2]]


def test_zsum_lets_a_confident_component_win_and_rrf_does_not():
    sure = np.array([[10.0, 0.0, 0.0, 0.0]])  # page 0 far ahead
    unsure = np.array([[0.095, 0.11, 0.10, 0.09]])  # page 1 a hair ahead, page 0 third
    comps = {"lexical": sure, "dense": unsure}
    weights = {"lexical": 1.0, "dense": 1.0}
    assert int(np.argmax(Fusion("zsum", weights).fuse(comps))) == 0
    rrf = Fusion("rrf", weights).fuse(comps)[0]
    assert rrf[0] == pytest.approx(1 / 61 + 1 / 63) and rrf[1] == pytest.approx(1 / 62 + 1 / 61)
    assert int(np.argmax(rrf)) == 1


def test_fusion_rejects_bad_settings():
    with pytest.raises(ValueError, match="zsum"):
        Fusion("max")
    with pytest.raises(ValueError, match=">= 0"):
        Fusion(weights={"lexical": -1})
    with pytest.raises(ValueError, match="no component"):
        Fusion(weights={"visual": 1.0}).fuse({"lexical": np.zeros((1, 2))})


def test_default_weights_name_every_component():
    from local_backend.pages.retriever import COMPONENTS

    assert set(DEFAULT_WEIGHTS) == set(COMPONENTS)


def test_query_intent_reads_figure_and_table_words():
    assert query_intent("scatter plot of speed against weight") == (True, False)
    assert query_intent("table of estimates") == (False, True)
    assert query_intent("Chow test for a known break") == (False, False)


def _page(tokens, figures=()):
    return PageText("p", [Word(t, Box(0, 0, 0.01, 0.01), "ocr") for t in tokens], list(figures))


def test_page_layout_finds_captions_figures_and_numeric_grids():
    assert page_layout(_page(["Figure", "3:", "Monitoring"])).has_figure
    assert page_layout(_page(["see", "text"], [Box(0.1, 0.1, 0.5, 0.5)])).has_figure
    assert page_layout(_page(["TABLE", "1.", "Engel's", "Law"])).has_table
    assert page_layout(_page(["x"] * 20 + ["1.5", "2", "-0.3"] * 10)).has_table
    plain = page_layout(_page(["a", "figure", "shows", "nothing", "here"]))
    assert not plain.has_figure and not plain.has_table
