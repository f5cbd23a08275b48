"""BM25 over page words (bm25s, Lucene variant, with IDF), English stemming and stop words.

A descriptive query shares some exact words with the right page nearly always: names in the
caption, axis labels, a data set, a test. BM25 rewards those, and its IDF keeps "plot" or
"test" from drowning the rare words that decide. Stemming (Snowball, via PyStemmer) lets
"plots" meet "plot" and "residuals" meet "residual".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vertex_mm._optional import require

__all__ = ["LexicalScorer"]


def _require_bm25s() -> tuple[object, object]:
    what = "the OCR-assisted page retriever"
    return require("local", "bm25s", what=what), require("local", "Stemmer", what=what)


class LexicalScorer:
    """Scores every page for a query with BM25 (``k1``, ``b`` as in Lucene's defaults)."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._bm25s, stemmer_mod = _require_bm25s()
        self._stemmer = stemmer_mod.Stemmer("english")  # type: ignore[attr-defined]
        self._index = None
        self.n_docs = 0

    def _tokenize(self, texts: Sequence[str], *, return_ids: bool) -> object:
        return self._bm25s.tokenize(  # type: ignore[attr-defined]
            list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=return_ids
        )

    def fit(self, documents: Sequence[str]) -> "LexicalScorer":
        """Index one text per page (an empty page is allowed and scores 0)."""
        self.n_docs = len(documents)
        index = self._bm25s.BM25(k1=self.k1, b=self.b, method="lucene")  # type: ignore[attr-defined]
        index.index(self._tokenize(documents, return_ids=True), show_progress=False)
        self._index = index
        return self

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every page, in index order (zeros when no query word is known)."""
        if self._index is None:
            raise RuntimeError("LexicalScorer.fit() must run before scores()")
        tokens = self._tokenize([query], return_ids=False)[0]  # type: ignore[index]
        if not tokens:
            return np.zeros(self.n_docs, np.float32)
        return np.asarray(self._index.get_scores(tokens), dtype=np.float32)
