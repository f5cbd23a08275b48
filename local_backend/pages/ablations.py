"""The evaluation's extra rows for the OCR-assisted retriever: what-if variants of its ranking,
re-fused from the component scores of the index it already holds.

``vertex-mm pages eval`` prints them under the main row (through
:meth:`.retriever.OcrAssistedPageRetriever.eval_variants`, the
:class:`~vertex_mm.pages.retriever.EvalVariants` hook): every component alone, every
leave-one-out, RRF fusion, passage-level BM25, heading evidence, the dense passages encoded
the other way (late chunking or not), the older text-signal recipe and the plain text-layer BM25
baseline. None of them is a default: each row is here to show why
(see :mod:`.fusion`, :mod:`.lexical` and :mod:`.headings` for the measured reasons). They live
apart from the retriever because they are measurement, not search: nothing the retriever
ranks with depends on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .retriever import OcrAssistedPageRetriever

__all__ = ["eval_variants"]


def eval_variants(retriever: OcrAssistedPageRetriever, queries: Sequence[str]) -> dict[str, np.ndarray]:
    """Every component alone, every leave-one-out ablation, RRF fusion with the same
    weights, passage-level BM25 (not a default component: it did not pay on held-out
    documents) alone and added with weight 0.5, heading evidence (neither did it), and BM25 over the page words without the
    figure boost (the plain text-layer baseline): re-fused from the component scores, so
    they cost no re-indexing (the passage windows are indexed here, in milliseconds)."""
    from .lexical import LexicalScorer, PassageScorer

    fusion = retriever.fusion
    comps = retriever.component_scores(queries)
    out = {f"  {name} alone": comps[name] for name in retriever.components}
    if len(comps) > 1:
        for name in retriever.components:
            out[f"  without {name}"] = fusion.fuse_or_alone({k: v for k, v in comps.items() if k != name})
        out["  rrf fusion (same weights)"] = dataclasses.replace(fusion, method="rrf").fuse(comps)
    passage = PassageScorer().fit(retriever.bm25_documents(retriever.pages))
    passages = np.vstack([passage.scores(q) for q in queries])
    out[f"  passage BM25 alone ({passage.window}-word windows)"] = passages
    if len(comps) > 1:
        weights = {**fusion.weights, "passage": 0.5}
        out["  + passage BM25 (weight 0.5)"] = dataclasses.replace(fusion, weights=weights).fuse(
            {**comps, "passage": passages})
    out.update(_heading_variants(retriever, queries, comps))
    out.update(_dense_encoding_variants(retriever, queries, comps))
    if retriever.text_signals > 1 and {"lexical", "layout"} & set(comps):
        out["  text-signal recipe 1 (before captions, numeric-line tables, references)"] = fusion.fuse_or_alone(
            {**comps, **_recipe1_scores(retriever, queries, set(comps))})
    plain = LexicalScorer().fit([p.text for p in retriever.pages])
    out["baseline: text layer (else OCR) + BM25"] = np.vstack([plain.scores(q) for q in queries])
    return out


def _dense_encoding_variants(retriever: OcrAssistedPageRetriever, queries: Sequence[str],
                             comps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The dense passages encoded the other way (:class:`.dense.DenseScorer`'s ``late_chunking``:
    one encoding per page, or each window alone), alone and fused in the dense signal's place.
    The one variant that encodes again: about a third of the dense stage's time from an index
    of windows encoded alone, three times it from a late-chunked one."""
    from .dense import DenseScorer
    from .layout import figure_passages

    dense = retriever.scorer("dense")
    late = not retriever.dense_late_chunking
    if dense is None or "dense" not in comps or (late and not hasattr(dense.encoder, "encode_word_spans")):
        return {}  # no dense signal, or an encoder that cannot pool spans (a stand-in)
    other = DenseScorer(dense.encoder, window=dense.window, stride=dense.stride, precision=dense.precision,
                        late_chunking=late).fit([[w.text for w in p.words] for p in retriever.pages],
                                                [figure_passages(p) for p in retriever.pages])
    name = "late-chunked (one encoding per page)" if late else "windows encoded one by one"
    scores = other.scores_many(list(queries))
    out = {f"  dense {name} alone": scores}
    if len(comps) > 1:
        out[f"  with dense {name}"] = retriever.fusion.fuse_or_alone({**comps, "dense": scores})
    return out


def _heading_variants(retriever: OcrAssistedPageRetriever, queries: Sequence[str],
                      comps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Heading evidence (:mod:`.headings`; not a default, it did not pay on held-out
    documents): each page's title line twice more in BM25's text, and a BM25 of the title
    lines alone fused with weight 0.25."""
    from .headings import heading_documents, page_headings
    from .lexical import LexicalScorer

    fusion = retriever.fusion
    heads = page_headings(retriever.pages, [ref.doc_id for ref in retriever.refs])
    out: dict[str, np.ndarray] = {}
    if "lexical" in comps:
        titled = LexicalScorer().fit(heading_documents(retriever.bm25_documents(retriever.pages), heads))
        out["  + headings x2 in BM25 (first title-like line)"] = fusion.fuse_or_alone(
            {**comps, "lexical": np.vstack([titled.scores(q) for q in queries])})
    if len(comps) > 1:
        heading = LexicalScorer().fit(heads)
        weights = {**fusion.weights, "heading": 0.25}
        out["  + heading BM25 (weight 0.25)"] = dataclasses.replace(fusion, weights=weights).fuse(
            {**comps, "heading": np.vstack([heading.scores(q) for q in queries])})
    return out


def _recipe1_scores(retriever: OcrAssistedPageRetriever, queries: Sequence[str], names: set[str]) -> dict[str, np.ndarray]:
    """BM25 and layout scores as an index of text-signal recipe 1 would give them."""
    from .layout import LayoutScorer
    from .lexical import LexicalScorer

    out: dict[str, np.ndarray] = {}
    if "lexical" in names:
        lexical = LexicalScorer().fit(retriever.bm25_documents(retriever.pages, text_signals=1))
        out["lexical"] = np.vstack([lexical.scores(q) for q in queries])
    if "layout" in names:
        out["layout"] = LayoutScorer(text_signals=1).fit(retriever.pages).scores_many(list(queries))
    return out
