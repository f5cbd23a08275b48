"""Heading evidence: each page's title line from word boxes (slides of one talk, pages of a
paper), the BM25F-lite page text, and the eval rows that score it (it is not a default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from local_backend.pages import OcrAssistedPageRetriever
from local_backend.pages.headings import RUNNING_PAGES, heading_documents, page_headings, running_lines
from local_backend.pages.lexical import LexicalScorer, PassageScorer
from local_backend.pages.words import Box, PageText, Word
from vertex_mm.pages import PageRef

NAV = "Introduction Hardness Results Summary"


def _page(page_id: str, lines: list[tuple[float, str]], *, x0: float = 0.05, word_width: float = 0.06) -> PageText:
    """Words laid out left to right on each line, ``(y, text)``: a line's width grows with its words."""
    words = [Word(t, Box(x0 + word_width * i, y, x0 + word_width * i + 0.05, y + 0.03), "text-layer")
             for y, text in lines for i, t in enumerate(text.split())]
    return PageText(page_id, words)


# Four slides of one talk: a navigation bar on every slide, then the slide's title.
SLIDES = [
    _page("talk#1", [(0.01, NAV), (0.10, "Outline"), (0.30, "1 Introduction"), (0.35, "2 Hardness results")]),
    _page("talk#2", [(0.01, NAV), (0.10, "General formalization of haplotyping."), (0.30, "Inputs A genotype matrix")]),
    _page("talk#3", [(0.01, NAV), (0.10, "Our formalization of haplotyping."), (0.30, "Inputs A genotype matrix")]),
    _page("talk#4", [(0.01, NAV), (0.10, "Summary"), (0.40, "Finding optimal partitions is intractable.")]),
]


def test_a_slide_title_is_the_first_line_below_the_running_navigation_bar():
    heads = page_headings(SLIDES, ["talk"] * 4)
    assert heads == ["Outline", "General formalization of haplotyping.", "Our formalization of haplotyping.", "Summary"]
    assert RUNNING_PAGES == 3 and running_lines(SLIDES, ["talk"] * 4)["talk"] == {"introduction hardness results summary"}


def test_a_line_on_too_few_pages_is_no_running_line_and_documents_are_counted_apart():
    # The bar stands on two slides of each of two talks: on no document's three pages.
    heads = page_headings(SLIDES, ["a", "a", "b", "b"])
    assert heads == [NAV] * 4


def test_prose_a_wide_line_and_a_line_low_on_the_page_are_no_headings():
    pages = [
        _page("paper#2", [(0.05, "that functions are first-level objects, i.e. functions can take"),
                          (0.60, "3 Estimating the covariance")]),
        _page("paper#3", [(0.05, "The rows of the matrix are taxa and columns sites")], word_width=0.075),
        _page("paper#4", [(0.05, "x = 2"), (0.20, "2.1 Dealing with heteroskedasticity")]),
    ]
    assert page_headings(pages, ["paper"] * 3) == ["", "", "2.1 Dealing with heteroskedasticity"]
    with pytest.raises(ValueError, match="one document id per page"):
        page_headings(pages, ["paper"])


def test_heading_documents_count_the_title_twice_more_and_leave_untitled_pages_alone():
    assert heading_documents(["a b c", "d e"], ["Summary", ""]) == ["a b c Summary Summary", "d e"]
    assert heading_documents(["a"], ["T"], repeat=1) == ["a T"]


def test_bm25_of_pages_without_words_scores_zero_instead_of_failing():
    # A corpus in which no page has a heading (bm25s cannot index an empty vocabulary).
    assert LexicalScorer().fit(["", "the of"]).scores("summary").tolist() == [0, 0]
    assert LexicalScorer().fit_tokens([[], []]).scores("summary").tolist() == [0, 0]
    assert PassageScorer().fit(["", ""]).scores("summary").tolist() == [0, 0]


class _BagEncoder:
    def encode_texts(self, texts):
        out = np.zeros((len(texts), 32), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(map(ord, word)) % 32] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_the_eval_table_scores_heading_evidence_without_changing_the_default():
    r = OcrAssistedPageRetriever(dense_encoder=_BagEncoder())
    refs = [PageRef(Path("talk.pdf"), i + 1) for i in range(len(SLIDES))]
    r.attach(refs, [PageText(ref.page_id, p.words) for ref, p in zip(refs, SLIDES)], {})
    queries = ["summary slide saying partitions are intractable", "our formalization of haplotyping"]
    variants = r.eval_variants(queries)
    titled = variants["  + headings x2 in BM25 (first title-like line)"]
    assert titled.shape == (2, 4) and int(np.argmax(titled[0])) == 3 and int(np.argmax(titled[1])) == 2
    assert variants["  + heading BM25 (weight 0.25)"].shape == (2, 4)
    assert not np.allclose(titled, r.score(queries))  # a row beside the default, not the default
    lexical_only = OcrAssistedPageRetriever(components=("lexical",))
    lexical_only.attach(refs, [PageText(ref.page_id, p.words) for ref, p in zip(refs, SLIDES)], {})
    rows = lexical_only.eval_variants(queries)
    assert "  + headings x2 in BM25 (first title-like line)" in rows and "  + heading BM25 (weight 0.25)" not in rows
