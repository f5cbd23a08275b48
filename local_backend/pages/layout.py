"""Layout signal: does the page hold what the query asks to see (a chart, a table)?

A user who types "scatter plot of ..." wants a page with a plot on it; "table of ..." a page
with a table. Words alone cannot tell a page that *shows* a scatter plot from one that
*talks about* one. This component can, cheaply:

* page side: figures come from the drawing operators (see :mod:`.text_layer`) or, on scanned
  pages, a "Figure n" / "Fig. n" caption; tables from a "Table n" caption or a high share of
  numeric tokens (grids of numbers are tables, whatever their borders).
* query side: a small lexicon of words that ask for a figure or a table.

The score is 1 for each requested element the page has, so it only reorders pages among
those the other components already like; its weight in fusion is small (see
:data:`~.fusion.DEFAULT_WEIGHTS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .words import PageText

__all__ = ["FIGURE_WORDS", "TABLE_WORDS", "LayoutScorer", "PageLayout", "page_layout", "query_intent"]

FIGURE_WORDS = frozenset({
    "chart", "charts", "plot", "plots", "plotted", "scatter", "scatterplot", "graph", "graphs", "figure",
    "figures", "diagram", "diagrams", "tree", "trees", "histogram", "histograms", "curve", "curves",
    "panel", "panels", "mosaic", "bars", "bar", "map", "contour", "image", "photo", "picture", "drawing",
    "illustration", "visualization", "heatmap", "boxplot", "axis", "axes",
})
TABLE_WORDS = frozenset({"table", "tables", "tabular", "matrix", "columns", "rows", "counts", "spreadsheet"})

_CAPTION_FIGURE = re.compile(r"^(figure|fig\.?)$", re.IGNORECASE)
_CAPTION_TABLE = re.compile(r"^table$", re.IGNORECASE)
_CAPTION_NUMBER = re.compile(r"^[0-9IVX]+[.:]?$")
_NUMBER = re.compile(r"^[-+−(]?[0-9]+([.,][0-9]+)*[)%]?$")
_MIN_TOKENS_FOR_NUMERIC = 30
_NUMERIC_TABLE_SHARE = 0.30


@dataclass(frozen=True)
class PageLayout:
    has_figure: bool
    has_table: bool


def _has_caption(tokens: Sequence[str], head: re.Pattern[str]) -> bool:
    return any(head.match(a) and _CAPTION_NUMBER.match(b) for a, b in zip(tokens, tokens[1:]))


def page_layout(text: PageText) -> PageLayout:
    tokens = [w.text for w in text.words]
    numeric = sum(bool(_NUMBER.match(t)) for t in tokens)
    has_table = _has_caption(tokens, _CAPTION_TABLE) or (
        len(tokens) >= _MIN_TOKENS_FOR_NUMERIC and numeric / len(tokens) >= _NUMERIC_TABLE_SHARE)
    has_figure = bool(text.figure_boxes) or _has_caption(tokens, _CAPTION_FIGURE)
    return PageLayout(has_figure=has_figure, has_table=has_table)


def query_intent(query: str) -> tuple[bool, bool]:
    """(asks for a figure, asks for a table)."""
    words = set(re.findall(r"[a-z]+", query.lower()))
    return bool(words & FIGURE_WORDS), bool(words & TABLE_WORDS)


class LayoutScorer:
    """1 point per requested element (figure, table) that the page has."""

    def fit(self, pages: Sequence[PageText]) -> "LayoutScorer":
        layouts = [page_layout(p) for p in pages]
        self._figure = np.array([layout.has_figure for layout in layouts], np.float32)
        self._table = np.array([layout.has_table for layout in layouts], np.float32)
        return self

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(queries), self._figure.size), np.float32)
        for i, q in enumerate(queries):
            wants_figure, wants_table = query_intent(q)
            out[i] = wants_figure * self._figure + wants_table * self._table
        return out
