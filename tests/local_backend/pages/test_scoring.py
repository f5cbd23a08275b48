"""BM25 (page and passage), word windows, fusion arithmetic and the layout signal, on small real texts."""

from __future__ import annotations

import numpy as np
import pytest

from local_backend.pages.dense import word_windows
from local_backend.pages.fusion import DEFAULT_WEIGHTS, Fusion, ranks, zscores
from local_backend.pages.layout import TABLE_LINES, LayoutScorer, caption_texts, page_layout, query_intent
from local_backend.pages.lexical import LexicalScorer, PassageScorer
from local_backend.pages.words import Box, PageText, Word, text_lines

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


def test_a_lone_component_is_its_own_ranking_whatever_its_weight():
    scores = np.array([[3.0, 1.0, 2.0]], dtype=np.float32)
    alone = Fusion(weights={"lexical": 0.0}).fuse_or_alone({"lexical": scores})
    assert alone.dtype == np.float64 and np.array_equal(alone, scores)
    comps = {"lexical": scores, "dense": scores[:, ::-1]}
    assert np.array_equal(Fusion().fuse_or_alone(comps), Fusion().fuse(comps))


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


def _line(tokens, y):
    return [Word(t, Box(0.1 + 0.08 * i, y, 0.15 + 0.08 * i, y + 0.01), "ocr") for i, t in enumerate(tokens)]


def test_text_lines_split_where_the_words_move_down_or_back_left():
    words = _line(["age", "0.0652", "1.0674"], 0.10) + _line(["sexM", "0.3889"], 0.12)
    assert [[w.text for w in line] for line in text_lines(words)] == [["age", "0.0652", "1.0674"], ["sexM", "0.3889"]]
    assert text_lines([]) == []


def test_a_block_of_numeric_lines_in_prose_is_a_table_unless_the_index_predates_the_rule():
    sentence = "The effect of age and sex on mortality is profound as the fit shows".split()
    prose = [w for i in range(4) for w in _line(sentence, 0.01 * i)]  # too much prose for the page-wide share
    rows = [_line([name, "0.0652", "1.0674", "0.0036", "17.4", "<2e-16"], 0.1 + 0.02 * i)
            for i, name in enumerate(["age", "sexM", "mspike", "pcm", "death"])]
    page = PageText("p", prose + [w for row in rows for w in row])
    assert page_layout(page).has_table
    assert not page_layout(page, text_signals=1).has_table
    four = PageText("p", prose + [w for row in rows[:4] for w in row])  # fewer than TABLE_LINES lines
    assert TABLE_LINES == 5 and not page_layout(four).has_table


def test_captions_are_the_first_sentence_after_a_figure_or_table_label():
    page = _page("see Table 2 for details . Figure 3: Residual plots for the mandible models . More text".split()
                 + ["Table", "1.", "Engel", "data"])
    assert caption_texts(page) == ["Residual plots for the mandible models .", "Engel data"]
    assert caption_texts(_page(["fig.", "2", "shows", "nothing"])) == []


def test_passage_bm25_scores_a_page_by_its_best_window():
    filler = " ".join(f"w{i}" for i in range(200))
    pages = [f"engel food {filler} expenditure", f"{filler} engel food expenditure", "motorcycle acceleration"]
    s = PassageScorer(window=20, stride=10).fit(pages).scores("engel food expenditure")
    assert s.shape == (3,) and int(np.argmax(s)) == 1 and s[2] == 0  # the words together win over the words apart
    page_level = LexicalScorer().fit(pages).scores("engel food expenditure")
    assert page_level[0] == pytest.approx(page_level[1])  # page BM25 cannot tell them apart
    assert PassageScorer().fit(pages + [""]).scores("zyzzyva the").tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="stride"):
        PassageScorer(window=10, stride=20)


def test_reference_lists_are_found_by_heading_or_cited_years_and_asked_for_by_their_words():
    heading = PageText("p", _line(["References"], 0.05) + _line("Andrews DWK heteroskedasticity".split(), 0.08))
    years = _page("Zeileis A (2004). Econometric computing. Bai J, Perron P (2003). Computation. ".split() * 4)
    prose = _page("as Newey and West (1987) and Andrews (1991) showed in 1991, see 2004".split())
    assert page_layout(heading).has_references and page_layout(years).has_references
    assert not page_layout(prose).has_references and not page_layout(years, text_signals=1).has_references
    scores = LayoutScorer().fit([heading, years, prose]).scores_many(["reference list of an econometrics paper"])
    assert scores.tolist() == [[1, 1, 0]]
    assert LayoutScorer(text_signals=1).fit([heading, years, prose]).scores_many(["reference list"]).tolist() == [[0, 0, 0]]
    assert query_intent("coxph coefficients for age") == (False, True)
    assert query_intent("coxph coefficients for age", text_signals=1) == (False, False)


def test_a_one_page_index_scores_by_how_well_the_page_matches_not_zero():
    # Raw scores of hexagon_binning.pdf page 1 indexed alone (`pages search` printed 0.000 for all).
    comps = {"lexical": np.array([[0.263], [0.0], [0.648]]), "dense": np.array([[0.636], [0.102], [0.793]]),
             "layout": np.zeros((3, 1))}
    fused = Fusion().fuse(comps)[:, 0]
    assert fused.shape == (3,) and np.all(fused != 0)
    assert fused[2] > fused[0] > fused[1]  # "hexagonal binning of points" > "hexagon" > "zoo animals"
    two = {name: np.hstack([s, s - 0.1]) for name, s in comps.items()}
    assert np.allclose(Fusion().fuse(two), Fusion().fuse({n: zscores(s) for n, s in two.items()}))  # 2+ pages: z
