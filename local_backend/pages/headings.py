"""Heading evidence: the line that titles a page (a slide's title, a section heading at the top).

Neighbouring slides of one talk share most of their words; what tells them apart is often their
title. :func:`page_headings` finds, from the stored word boxes alone (so it works on text-layer
and OCR'd pages, and on indexes saved before it existed), each page's first title-like line:

* it starts in the top half of the page (:data:`TOP`),
* it is not a running line: the same letters do not stand as a line on :data:`RUNNING_PAGES` or
  more pages of the document (a slide deck's navigation bar, a paper's running head),
* it is short (at most :data:`MAX_WORDS` words, at most :data:`MAX_WIDTH` of the page wide),
  starts with a capital letter or a section number and does not end in "," or "-" (the first
  line of a page of prose continues a sentence).

Word-box heights were tried as a font-size cue (lines 1.25 times taller than the page's median
word) and were noisy: glyph boxes of code, formulas and hyphenation points are tall, and a
slide's title is set barely larger than its body.

Not a default signal. Judged by leave-one-document-out cross-validation over the pooled dev
documents (12 documents, 65 queries), the heading line counted twice more in BM25's page text
scored 0.886 and a separate heading BM25 (weight 0.25, every fold's pick) 0.888, against 0.880
without; but each gain is one slide query (a different one for each form), and these were the
best 3 of 60 forms tried on the same queries (15 rules for the line, by position and by word-box
height, each added 1-3 times to BM25's text or as a BM25 of its own: 0.842-0.888; the first
title-like line without the capital and width tests: 0.871-0.881). Choosing the form along with
the weights inside each fold (nested CV) gave 0.867-0.869: the gain does not carry to unseen
documents. ``vertex-mm pages eval`` prints both forms as ablation rows, and
``benchmarks/pages_fusion_weights.py`` reruns the comparison.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

from .words import PageText, Word, text_lines

__all__ = ["MAX_WIDTH", "MAX_WORDS", "RUNNING_PAGES", "TOP", "heading_documents", "page_headings", "running_lines"]

#: A heading line starts above this fraction of the page height.
TOP = 0.5
#: A line standing on this many pages of one document is a running head or a navigation bar.
RUNNING_PAGES = 3
MAX_WORDS = 12
MAX_WIDTH = 0.7
_NOT_LETTERS = re.compile(r"[^a-z]+")


def _key(line: Sequence[Word]) -> str:
    """A line's letters, lower-cased: page numbers and punctuation do not make lines differ."""
    return _NOT_LETTERS.sub(" ", " ".join(w.text for w in line).lower()).strip()


def running_lines(pages: Sequence[PageText], doc_ids: Sequence[str]) -> dict[str, set[str]]:
    """For each document, the lines (as :func:`_key` writes them) that stand on
    :data:`RUNNING_PAGES` or more of its pages."""
    if len(pages) != len(doc_ids):
        raise ValueError(f"need one document id per page, got {len(doc_ids)} for {len(pages)} pages")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for page, doc in zip(pages, doc_ids):
        counts[doc].update({_key(line) for line in text_lines(page.words)} - {""})
    return {doc: {k for k, n in c.items() if n >= RUNNING_PAGES} for doc, c in counts.items()}


def _is_heading(line: Sequence[Word], running: set[str]) -> bool:
    key = _key(line)
    if not key or key in running or len(line) > MAX_WORDS or sum(c.isalpha() for w in line for c in w.text) < 2:
        return False
    first, last = line[0].text, line[-1].text
    if not (first[:1].isupper() or first[:1].isdigit()) or last.endswith((",", "-")):
        return False
    return line[0].box.y0 <= TOP and max(w.box.x1 for w in line) - min(w.box.x0 for w in line) <= MAX_WIDTH


def page_headings(pages: Sequence[PageText], doc_ids: Sequence[str]) -> list[str]:
    """Each page's first title-like line ("" when it has none); ``doc_ids[i]`` names the
    document page ``i`` belongs to (running lines are found per document)."""
    running = running_lines(pages, doc_ids)
    out = []
    for page, doc in zip(pages, doc_ids):
        line = next((ln for ln in text_lines(page.words) if _is_heading(ln, running[doc])), None)
        out.append(" ".join(w.text for w in line) if line else "")
    return out


def heading_documents(documents: Sequence[str], headings: Sequence[str], *, repeat: int = 2) -> list[str]:
    """BM25F-lite: each page's text with its heading line added ``repeat`` more times."""
    return [" ".join([doc, *[h] * repeat]) if h else doc for doc, h in zip(documents, headings, strict=True)]
