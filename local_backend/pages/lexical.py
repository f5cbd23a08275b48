"""BM25 over page words (bm25s, Lucene variant, with IDF), English stemming and stop words.

A descriptive query shares some exact words with the right page nearly always: names in the
caption, axis labels, a data set, a test. BM25 rewards those, and its IDF keeps "plot" or
"test" from drowning the rare words that decide. Stemming (Snowball, via PyStemmer) lets
"plots" meet "plot" and "residuals" meet "residual".

:class:`PassageScorer` is BM25 at passage grain: each page cut into overlapping windows of its
words, a page scoring as its best window. Alone it beats page BM25 on held-out documents, but
fused with the MiniLM windows (already passage-grained) it did not pay, so it is not a
component of the default retriever; ``vertex-mm pages eval`` prints it as an ablation row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vertex_mm._optional import require

__all__ = ["LexicalScorer", "PassageScorer"]

# The index of a corpus in which no page has a word BM25 keeps (bm25s cannot index one).
_NO_WORDS = object()


def _require_bm25s() -> tuple[Any, Any]:
    what = "the OCR-assisted page retriever"
    return require("local", "bm25s", what=what), require("local", "Stemmer", what=what)


class LexicalScorer:
    """Scores every page for a query with BM25 (``k1``, ``b`` as in Lucene's defaults)."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._bm25s, stemmer_mod = _require_bm25s()
        self._stemmer = stemmer_mod.Stemmer("english")
        self._index: Any = None  # a bm25s.BM25, or _NO_WORDS
        self.n_docs = 0

    def _tokenize(self, texts: Sequence[str], *, return_ids: bool) -> Any:
        return self._bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=return_ids
        )

    def fit(self, documents: Sequence[str]) -> "LexicalScorer":
        """Index one text per page (an empty page is allowed and scores 0; so does every page
        when none has a word BM25 keeps)."""
        self.n_docs = len(documents)
        tokens = self._tokenize(documents, return_ids=True)
        self._index = self._build(tokens) if tokens.vocab else _NO_WORDS
        return self

    def fit_tokens(self, documents: Sequence[Sequence[str]]) -> "LexicalScorer":
        """Index documents given as lists of tokens already tokenized like :meth:`fit`'s."""
        self.n_docs = len(documents)
        self._index = self._build([list(d) for d in documents]) if any(documents) else _NO_WORDS
        return self

    def _build(self, tokens: Any) -> Any:
        index = self._bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        index.index(tokens, show_progress=False)
        return index

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every page, in index order (zeros when no query word is known)."""
        if self._index is None:
            raise RuntimeError("LexicalScorer.fit() must run before scores()")
        tokens = self._tokenize([query], return_ids=False)[0]
        if not tokens or self._index is _NO_WORDS:
            return np.zeros(self.n_docs, np.float32)
        return np.asarray(self._index.get_scores(tokens), dtype=np.float32)


class PassageScorer:
    """BM25 (bm25s) over overlapping windows of ``window`` content words (stop words out,
    stemmed) every ``stride``; a page scores as its best window. IDF and length are the
    windows': a rare word counts the same on a long page and a short one."""

    def __init__(self, *, window: int = 60, stride: int = 30, k1: float = 1.2, b: float = 0.75) -> None:
        if not 0 < stride <= window:
            raise ValueError(f"need 0 < stride <= window, got window={window}, stride={stride}")
        self.window = window
        self.stride = stride
        self._lexical = LexicalScorer(k1=k1, b=b)
        self._owner = np.zeros(0, np.int64)
        self.n_docs = 0

    def fit(self, documents: Sequence[str]) -> "PassageScorer":
        """Index the windows of one text per page."""
        from .dense import word_windows

        tokens = self._lexical._tokenize(documents, return_ids=False)
        passages: list[str] = []
        owner: list[int] = []
        for i, page in enumerate(tokens):
            windows = word_windows(list(page), self.window, self.stride) or [""]
            passages += windows
            owner += [i] * len(windows)
        self.n_docs = len(documents)
        self._owner = np.asarray(owner, np.int64)
        # The windows are already stemmed: index their tokens as they are (stemming a stem twice
        # can change it).
        self._lexical.fit_tokens([p.split() for p in passages])
        return self

    def scores(self, query: str) -> np.ndarray:
        """Best-window BM25 of every page, in index order."""
        out = np.zeros(self.n_docs, np.float32)
        np.maximum.at(out, self._owner, self._lexical.scores(query))
        return out
