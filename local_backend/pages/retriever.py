"""The OCR-assisted page retriever: text layer / OCR words, BM25, MiniLM windows, CNN regions.

This is NOT ColPali. It finds pages by the words on them (read from the PDF text layer, or by
tesseract where a page is an image), by dense MiniLM passages, by CNN region vectors of the
page and its figures, and by a chart/table layout signal, and fuses the rankings (see
:mod:`.fusion`). It is the offline default for page search because ColPali weights cannot be
had offline, and it is named ``ocr-fused`` everywhere, with a :attr:`description` printed next
to its results, so that they are never mistaken for a vision-language model's. The rows it adds
to an evaluation (ablations and baselines re-fused from its scores) are in :mod:`.ablations`.

>>> from vertex_mm.pages import expand_sources
>>> r = OcrAssistedPageRetriever()                               # doctest: +SKIP
>>> stats = r.index(expand_sources(["report.pdf"]))              # doctest: +SKIP
>>> r.search(["bar chart of revenue by region"], k=3)[0]         # doctest: +SKIP
[PageHit(doc_id='report', page_number=7, score=4.1, ..., page_id='report#7'), ...]
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vertex_mm.errors import InputError
from vertex_mm.index.errors import IndexCorruptedError, IndexVersionError
from vertex_mm.index.load import index_kind
from vertex_mm.pages import IndexStats, PageHit, PageRef
from vertex_mm.pages.ingest import refuse_held_elsewhere, unique_refs

from .fusion import Fusion
from .layout import caption_texts, figure_passages
from .ocr import OcrPool, OcrSettings
from .reader import ReaderSettings, ReadPage, read_pages
from .store import StoredIndex, read_index, write_index
from .words import PageText

__all__ = ["COMPONENTS", "DEFAULT_COMPONENTS", "DESCRIPTION", "RETRIEVER_NAME", "TEXT_SIGNALS",
           "OcrAssistedPageRetriever", "figure_passages", "lexical_document"]

RETRIEVER_NAME = "ocr-fused"
COMPONENTS = ("lexical", "dense", "visual", "layout")
#: What a new index holds unless asked otherwise. "visual" (CNN region vectors) is opt-in: it did
#: not raise nDCG@5 on held-out documents (see :data:`.fusion.DEFAULT_WEIGHTS`) and took about a
#: third of the indexing time. Saved indexes keep the components they were built with.
DEFAULT_COMPONENTS = ("lexical", "dense", "layout")
#: How BM25's page texts and the layout signal are derived from the stored words (they are rebuilt
#: on load, so a saved index records the recipe it was built with and keeps it). 1: page words
#: plus figure text; the layout's tables from captions and the page's numeric share. 2 (new
#: indexes): also each figure/table caption twice in BM25's text (:func:`.layout.caption_texts`);
#: in the layout signal, tables found as blocks of numeric lines (:data:`.layout.TABLE_LINES`),
#: reference lists, and "coefficient(s)" asking for a table (see :mod:`.layout`).
TEXT_SIGNALS = 2
DESCRIPTION = ("OCR-assisted fused retriever: PDF text layer / tesseract words + BM25, MiniLM passages, "
               "chart/table layout; not ColPali")

class OcrAssistedPageRetriever:
    """:class:`~vertex_mm.pages.PageRetriever` that indexes pages once, then ranks them for text
    queries. Components: ``lexical`` (BM25), ``dense`` (MiniLM windows), ``visual`` (CNN region
    vectors, opt-in), ``layout`` (figure / table asked for and present). The default is
    :data:`DEFAULT_COMPONENTS`; pass ``components=COMPONENTS`` for all four, a subset to ablate.
    """

    def __init__(self, *, components: Sequence[str] = DEFAULT_COMPONENTS, fusion: Fusion | None = None,
                 ocr_workers: int | None = None, reader: ReaderSettings | None = None,
                 use_ocr_cache: bool = True, ocr: OcrSettings | None = None, dense_encoder: Any = None,
                 visual_embedder: Any = None,
                 figure_boost: bool = True, name: str = RETRIEVER_NAME, method: str | None = None,
                 description: str = DESCRIPTION, text_signals: int = TEXT_SIGNALS,
                 dense_late_chunking: bool = False) -> None:
        unknown = set(components) - set(COMPONENTS)
        if unknown or not components:
            raise ValueError(f"components must be a non-empty subset of {COMPONENTS}, got {list(components)}")
        if text_signals not in range(1, TEXT_SIGNALS + 1):
            raise ValueError(f"text_signals must be 1..{TEXT_SIGNALS}, got {text_signals!r}")
        self.components = tuple(components)
        self.text_signals = text_signals
        self.fusion = fusion or Fusion()
        self.ocr_workers = ocr_workers
        self.reader = reader or ReaderSettings()
        self.use_ocr_cache = use_ocr_cache
        self.ocr = ocr or OcrSettings()
        #: The MiniLM text encoder and the region embedder (None: the shipped offline models).
        self.dense_encoder = dense_encoder
        #: Dense passages pooled from one encoding of each page (see :class:`~.dense.DenseScorer`):
        #: the dense stage 2.7-2.9x faster, nDCG a little different (opt-in; recorded in a saved
        #: index, which keeps it). Needs an encoder with ``encode_word_spans`` (the MiniLM one).
        self.dense_late_chunking = bool(dense_late_chunking)
        self.visual_embedder = visual_embedder
        self.figure_boost = figure_boost
        self.name = name
        self.method = method or f"all: {'+'.join(self.components)}"
        self._description = description
        self.refs: list[PageRef] = []
        self.pages: list[PageText] = []
        self.stats = IndexStats()
        self._scorers: dict[str, Any] = {}

    @classmethod
    def ocr_bm25_baseline(cls, **options: Any) -> OcrAssistedPageRetriever:
        """The reference an OCR pipeline would be: tesseract on every page (text layers
        ignored), then BM25 over the page words (spec ``ocr-bm25``)."""
        return cls(components=("lexical",), reader=ReaderSettings(force_ocr=True), figure_boost=False, name="ocr-bm25",
                   method="tesseract OCR + BM25", description="tesseract OCR of every page + BM25; not ColPali", **options)

    @property
    def description(self) -> str:
        return self._description

    @property
    def page_ids(self) -> list[str]:
        return [r.page_id for r in self.refs]

    # -- indexing ------------------------------------------------------------------------------
    def index(self, pages: Iterable[PageRef], *, save_to: str | os.PathLike[str] | None = None) -> IndexStats:
        """Read and index the pages (replacing any previous index). A page that cannot be read
        is listed in ``stats.errors`` and left out (one whose OCR failed after some words were
        read is kept with them). With ``save_to``, the index is saved there (a new one only when
        some page was read)."""
        stats = IndexStats()
        visual = None
        if "visual" in self.components:
            from .visual import VisualScorer

            visual = VisualScorer(self.visual_embedder)
        texts: list[PageText] = []
        refs: list[PageRef] = []
        batch: list[ReadPage] = []
        t_read = time.perf_counter()
        t_visual = 0.0
        settings = self.reader if visual is not None else dataclasses.replace(self.reader, images=False)
        with OcrPool(self.ocr_workers, settings=self.ocr, use_cache=self.use_ocr_cache) as pool:
            for page in read_pages(unique_refs(pages), pool, settings):  # a page given twice is one page
                stats.ocr_pages += page.ocr_pages
                stats.ocr_regions += page.ocr_regions
                stats.ocr_cached += page.ocr_cached
                if page.error is not None:
                    stats.errors.append(f"{page.ref.page_id}: {page.error}")
                    if not page.text.words:  # nothing read: not a page of the index (never a hit)
                        continue
                stats.pages += 1
                stats.documents[page.ref.doc_id] = stats.documents.get(page.ref.doc_id, 0) + 1
                stats.text_layer_pages += int(page.text.source == "text-layer")
                texts.append(page.text)
                refs.append(page.ref)
                if visual is not None:
                    batch.append(page)
                    if len(batch) >= visual.batch_size:
                        t_visual += self._add_visual(visual, batch)
                        batch = []
            if visual is not None and batch:
                t_visual += self._add_visual(visual, batch)
            stats.ocr_rereads, stats.ocr_crashes = pool.rereads, pool.crashes
        stats.seconds["read"] = time.perf_counter() - t_read - t_visual
        stats.seconds["visual"] = t_visual
        self.attach(refs, texts, {"visual": visual} if visual is not None else {}, stats=stats)
        self.stats = stats
        # Never *create* an empty index: with nothing read (every file unreadable) it would only
        # make the rerun ask for --update. One that is there already is saved as it now is.
        if save_to is not None and (refs or index_kind(save_to) is not None):
            self.save(save_to)
        return stats

    def update(self, pages: Iterable[PageRef], *, replace: bool = False,
               save_to: str | os.PathLike[str] | None = None) -> IndexStats:
        """Add ``pages`` to the pages this retriever holds (a loaded index grows): only the new
        pages are read and their passages encoded; BM25 and the layout signal are rebuilt over
        old and new pages together, so every page is fused as one corpus. A page whose id the
        index holds is skipped (counted in ``stats.skipped``); with ``replace`` each document of
        ``pages`` is read again, and its old pages that ``pages`` no longer has are dropped.
        An index with CNN region vectors (``visual``) is refused: it can only be built whole."""
        if "visual" in self.components:
            raise InputError(f"this {self.name} index holds CNN region vectors, which can only be built whole; index "
                             "all of its sources and the new ones into a new index", input_name="visual")
        refs = unique_refs(pages)
        held = set(self.page_ids)
        # --replace too: it reads the documents the index holds again, never another file of their name
        refuse_held_elsewhere(refs, {r.page_id: str(r.path) for r in self.refs})
        if replace:  # every page of a document read again goes: a file that shrank keeps no old pages
            renewed = {(r.doc_id, r.is_pdf) for r in refs}
            kept = [i for i, r in enumerate(self.refs) if (r.doc_id, r.is_pdf) not in renewed]
            todo = refs
        else:
            kept = list(range(len(self.refs)))
            todo = [r for r in refs if r.page_id not in held]
        stats, new_refs, new_pages, new_dense = IndexStats(), [], [], None
        if todo:
            fresh = copy.copy(self)  # the same settings; index() installs the new pages on the copy only
            stats = fresh.index(todo)
            new_refs, new_pages, new_dense = fresh.refs, fresh.pages, fresh.scorer("dense")
        stats.skipped = len(refs) - len(todo)
        scorers: dict[str, Any] = {}
        if "dense" in self._scorers:
            scorers["dense"] = self._scorers["dense"].merged(kept, new_dense)
        self.attach([self.refs[i] for i in kept] + new_refs, [self.pages[i] for i in kept] + new_pages, scorers)
        self.stats = stats
        if save_to is not None:
            self.save(save_to)
        return stats

    def attach(self, refs: Sequence[PageRef], texts: list[PageText], scorers: dict[str, Any], *,
               stats: IndexStats | None = None) -> None:
        """Install read pages and any pre-built scorers; build the rest (BM25, dense, layout)."""
        stats = stats if stats is not None else IndexStats(pages=len(texts))
        self.refs = list(refs)
        self.pages = texts
        self._scorers = dict(scorers)
        if "lexical" in self.components:
            t = time.perf_counter()
            from .lexical import LexicalScorer

            self._scorers["lexical"] = LexicalScorer().fit(self.bm25_documents(texts))
            stats.seconds["lexical"] = time.perf_counter() - t
        if "dense" in self.components and "dense" not in self._scorers:
            t = time.perf_counter()
            from .dense import DenseScorer

            self._scorers["dense"] = DenseScorer(self.dense_encoder, late_chunking=self.dense_late_chunking).fit(
                [[w.text for w in p.words] for p in texts], [figure_passages(p) for p in texts]
            )
            stats.seconds["dense"] = time.perf_counter() - t
        if "layout" in self.components:
            from .layout import LayoutScorer

            self._scorers["layout"] = LayoutScorer(text_signals=self.text_signals).fit(texts)

    def bm25_documents(self, texts: Sequence[PageText], *, text_signals: int | None = None) -> list[str]:
        """The text BM25 indexes for each page, under this retriever's recipe (or ``text_signals``)."""
        recipe = self.text_signals if text_signals is None else text_signals
        if not self.figure_boost:
            return [p.text for p in texts]
        return [lexical_document(p, captions=recipe >= 2) for p in texts]

    def scorer(self, name: str) -> Any:
        """The fitted scorer of component ``name`` (None when the component is not indexed)."""
        return self._scorers.get(name)

    @staticmethod
    def _add_visual(visual: Any, batch: list[ReadPage]) -> float:
        t = time.perf_counter()
        visual.add_pages([p.thumbnail if p.thumbnail is not None else _blank() for p in batch], [p.crops for p in batch])
        for p in batch:  # the images are not needed any more
            p.thumbnail, p.crops = None, []
        return time.perf_counter() - t

    # -- search --------------------------------------------------------------------------------
    def component_scores(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """Raw ``(queries, pages)`` score matrix of each indexed component."""
        if not self.refs:
            raise RuntimeError("index() must run before search")
        out: dict[str, np.ndarray] = {}
        for name, scorer in self._scorers.items():
            if name == "lexical":
                out[name] = np.vstack([scorer.scores(q) for q in queries]) if queries else np.zeros((0, len(self.refs)))
            else:
                out[name] = scorer.scores_many(list(queries))
        return out

    def score(self, queries: Sequence[str]) -> np.ndarray:
        """Fused ``(queries, pages)`` scores; higher is better."""
        return self.fusion.fuse_or_alone(self.component_scores(queries))

    def search(self, queries: Sequence[str], k: int = 5) -> list[list[PageHit]]:
        """The ``k`` best pages for each query, best first, with each component's raw score."""
        if isinstance(queries, str):
            raise InputError("search() takes a list of queries; wrap one query in a list", input_name="queries")
        for query in queries:  # a blank query matches nothing: every page would score 0, ranked at random
            if not isinstance(query, str) or not query.strip():
                raise InputError(f"query must be a non-empty string, got {query!r}", input_name="queries")
        if not self.refs and self._scorers:  # indexed, but no page could be read
            return [[] for _ in queries]
        comps = self.component_scores(queries)
        fused = self.fusion.fuse_or_alone(comps)
        out = []
        for qi in range(len(queries)):
            top = np.argsort(-fused[qi], kind="stable")[:k]
            out.append([self._hit(int(i), float(fused[qi, i]), {n: float(s[qi, i]) for n, s in comps.items()}) for i in top])
        return out

    def _hit(self, i: int, score: float, components: dict[str, float]) -> PageHit:
        ref = self.refs[i]
        return PageHit(ref.doc_id, ref.page_number, score, {"source": str(ref.path)}, components, page_id=ref.page_id)

    def eval_variants(self, queries: Sequence[str]) -> dict[str, np.ndarray]:
        """Extra rows for the evaluation table, re-fused from this index's component scores
        at no re-indexing: ablations, RRF, passage BM25, heading evidence, the text-layer
        BM25 baseline (:func:`.ablations.eval_variants`)."""
        from .ablations import eval_variants

        return eval_variants(self, queries)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to the folder ``path`` (see :mod:`.store`): the pages' words and the
        embedding components' arrays; BM25 and layout are rebuilt from the words on load."""
        arrays: dict[str, dict[str, np.ndarray]] = {
            name: self._scorers[name].arrays() for name in ("dense", "visual") if name in self._scorers}
        config = {
            "name": self.name, "method": self.method, "description": self.description,
            "components": list(self.components), "figure_boost": self.figure_boost, "force_ocr": self.reader.force_ocr,
            "text_signals": self.text_signals, "dense_late_chunking": self.dense_late_chunking,
            "fusion": {"method": self.fusion.method, "weights": dict(self.fusion.weights), "rrf_k": self.fusion.rrf_k},
        }
        return write_index(path, StoredIndex(config, self.refs, self.pages, arrays))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True, **options: Any) -> OcrAssistedPageRetriever:
        """A retriever ready to search, from a folder :meth:`save` wrote. ``verify`` checks every
        file's SHA-256; ``options`` are constructor arguments that are not stored
        (``ocr_workers``, ``dense_encoder``, ...). The query encoders load from local files."""
        stored = read_index(path, verify=verify)
        cfg = stored.config
        # Indexes saved before the recipe was recorded used recipe 1: they are rebuilt with it,
        # so they search as they did. A recipe this code does not know cannot be rebuilt.
        text_signals = cfg.get("text_signals", 1)
        if not isinstance(text_signals, int) or text_signals not in range(1, TEXT_SIGNALS + 1):
            raise IndexVersionError(f"{path}: its BM25 and layout signals were built with recipe {text_signals!r}, which this "
                                    f"version of vertex-mm cannot rebuild (it knows 1..{TEXT_SIGNALS}); upgrade vertex-mm, or "
                                    "index the pages again with `vertex-mm pages index`")
        late = cfg.get("dense_late_chunking", False)
        if not isinstance(late, bool):
            raise IndexCorruptedError(f"{path}: dense_late_chunking in its manifest must be true or false, got {late!r}")
        asked = options.pop("dense_late_chunking", late)
        if asked != late:  # the stored passages were encoded one way; new ones must match them
            raise InputError(f"{path}: its dense passages were encoded with dense_late_chunking={late}, which it keeps; "
                             f"leave dense_late_chunking out, or index the pages again", input_name="dense_late_chunking")
        try:
            r = cls(components=cfg["components"], fusion=Fusion(**cfg["fusion"]), figure_boost=bool(cfg["figure_boost"]),
                    reader=ReaderSettings(force_ocr=bool(cfg["force_ocr"])), name=str(cfg["name"]), method=str(cfg["method"]),
                    description=str(cfg["description"]), text_signals=text_signals,
                    dense_late_chunking=late, **options)
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptedError(f"{path}: the retriever settings in its manifest are missing or mangled ({exc!r})") from exc
        scorers: dict[str, Any] = {}
        if "dense" in r.components:
            from .dense import DenseScorer

            scorers["dense"] = DenseScorer.from_arrays(r.dense_encoder, stored.arrays["dense"], len(stored.pages),
                                                       late_chunking=r.dense_late_chunking)
        if "visual" in r.components:
            from .visual import VisualScorer

            scorers["visual"] = VisualScorer.from_arrays(r.visual_embedder, stored.arrays["visual"])
        r.attach(stored.refs, stored.pages, scorers)
        return r

    def __repr__(self) -> str:
        return f"OcrAssistedPageRetriever(name={self.name!r}, components={self.components}, pages={len(self.refs)})"


def lexical_document(text: PageText, *, captions: bool = True) -> str:
    """The page's words, with figure text and captions repeated once: what a figure shows
    is what a user describes, so those words count double. With ``captions``, each "Figure n:"
    / "Table n" caption is added twice more (on a scanned page no figure region is drawn, so
    the caption is what names the figure); chosen on the held-out page set's dev split."""
    parts = [text.text, *figure_passages(text)]
    if captions:
        parts += caption_texts(text) * 2
    return " ".join(parts)


def _blank() -> Any:
    from PIL import Image

    return Image.new("RGB", (64, 64), "white")
