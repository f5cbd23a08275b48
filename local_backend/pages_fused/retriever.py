"""The OCR-assisted page retriever: text layer / OCR words, BM25, MiniLM windows, CNN regions.

This is NOT ColPali. It finds pages by the words on them (read from the PDF text layer, or by
tesseract where a page is an image), by dense MiniLM passages, and by CNN region vectors of
the page and its figures, and fuses the three rankings (see :mod:`.fusion`). It is the offline
default for page search because ColPali weights cannot be had offline, and it is named
``ocr-fused`` everywhere so that its results are never mistaken for a vision-language model's.

>>> from local_backend.pages_fused import OcrAssistedPageRetriever, expand_paths
>>> r = OcrAssistedPageRetriever()                         # doctest: +SKIP
>>> stats = r.index(expand_paths(["report.pdf"]))          # doctest: +SKIP
>>> r.search("bar chart of revenue by region", k=3)        # doctest: +SKIP
[Hit(page_id='report-p07', score=4.1, components={...}), ...]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fusion import Fusion
from .ocr import OcrPool
from .reader import ReaderSettings, ReadPage, read_pages
from .sources import PageRef
from .words import Box, PageText, reading_text, words_in

__all__ = ["COMPONENTS", "Hit", "IndexStats", "OcrAssistedPageRetriever", "RETRIEVER_NAME", "figure_passages"]

RETRIEVER_NAME = "ocr-fused"
COMPONENTS = ("lexical", "dense", "visual", "layout")

# Captions sit just below (or above) a figure: widen its box by this much (page fractions) to
# catch them.
_CAPTION_BELOW = 0.10
_CAPTION_ABOVE = 0.03
_SIDE_MARGIN = 0.02


@dataclass(frozen=True)
class Hit:
    """One search result: the page, its fused score and each component's raw score."""

    page_id: str
    score: float
    components: Mapping[str, float] = field(default_factory=dict)


@dataclass
class IndexStats:
    """What indexing did, and how fast."""

    pages: int = 0
    text_layer_pages: int = 0
    ocr_pages: int = 0
    ocr_regions: int = 0
    ocr_cached: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.total_seconds if self.total_seconds > 0 else float("inf")


def figure_passages(text: PageText) -> list[str]:
    """For each figure region: the words drawn in it plus its caption, as one passage."""
    out = []
    for box in text.figure_boxes:
        grown = Box(max(0.0, box.x0 - _SIDE_MARGIN), max(0.0, box.y0 - _CAPTION_ABOVE),
                    min(1.0, box.x1 + _SIDE_MARGIN), min(1.0, box.y1 + _CAPTION_BELOW))
        words = words_in(text.words, grown)
        if words:
            out.append(reading_text(words))
    return out


class OcrAssistedPageRetriever:
    """Index pages once, then rank them for text queries. Components: ``lexical`` (BM25),
    ``dense`` (MiniLM windows), ``visual`` (CNN region vectors), ``layout`` (figure / table
    asked for and present); pass a subset to ablate.
    """

    name = RETRIEVER_NAME

    def __init__(self, *, components: Sequence[str] = COMPONENTS, fusion: Fusion | None = None,
                 ocr_workers: int | None = None, reader: ReaderSettings = ReaderSettings(),
                 use_ocr_cache: bool = True, dense_encoder: Any = None, visual_embedder: Any = None,
                 figure_boost: bool = True) -> None:
        unknown = set(components) - set(COMPONENTS)
        if unknown or not components:
            raise ValueError(f"components must be a non-empty subset of {COMPONENTS}, got {list(components)}")
        self.components = tuple(components)
        self.fusion = fusion or Fusion()
        self.ocr_workers = ocr_workers
        self.reader = reader
        self.use_ocr_cache = use_ocr_cache
        self._dense_encoder = dense_encoder
        self._visual_embedder = visual_embedder
        self.figure_boost = figure_boost
        self.page_ids: list[str] = []
        self.pages: list[PageText] = []
        self.sources: dict[str, tuple[str, int]] = {}  # page id -> (file, 1-based page number)
        self.stats = IndexStats()
        self._scorers: dict[str, Any] = {}

    # -- indexing ------------------------------------------------------------------------------
    def index(self, refs: Iterable[PageRef]) -> IndexStats:
        """Read and index the pages (replacing any previous index). Unreadable pages are kept
        with no words and listed in ``stats.errors``."""
        stats = IndexStats()
        visual = None
        if "visual" in self.components:
            from .visual import VisualScorer

            visual = VisualScorer(self._visual_embedder)
        texts: list[PageText] = []
        sources: dict[str, tuple[str, int]] = {}
        batch: list[ReadPage] = []
        t_read = time.perf_counter()
        t_visual = 0.0
        with OcrPool(self.ocr_workers, use_cache=self.use_ocr_cache) as pool:
            for page in read_pages(refs, pool, self.reader):
                stats.pages += 1
                stats.ocr_pages += page.ocr_pages
                stats.ocr_regions += page.ocr_regions
                stats.ocr_cached += page.ocr_cached
                stats.text_layer_pages += int(page.text.source == "text-layer")
                if page.error is not None:
                    stats.errors.append(f"{page.ref.page_id}: {page.error}")
                texts.append(page.text)
                sources[page.ref.page_id] = (str(page.ref.path), page.ref.page_index + 1)
                if visual is not None:
                    batch.append(page)
                    if len(batch) >= visual.batch_size:
                        t_visual += self._add_visual(visual, batch)
                        batch = []
            if visual is not None and batch:
                t_visual += self._add_visual(visual, batch)
        stats.seconds["read"] = time.perf_counter() - t_read - t_visual
        stats.seconds["visual"] = t_visual
        self.attach(texts, {"visual": visual} if visual is not None else {}, stats=stats)
        self.sources = sources
        self.stats = stats
        return stats

    def attach(self, texts: list[PageText], scorers: dict[str, Any], *, stats: IndexStats | None = None) -> None:
        """Install read pages and any pre-built scorers; build the rest (BM25, dense, layout)."""
        stats = stats if stats is not None else IndexStats(pages=len(texts))
        self.pages = texts
        self.page_ids = [t.page_id for t in texts]
        self._scorers = dict(scorers)
        if "lexical" in self.components:
            t = time.perf_counter()
            from .lexical import LexicalScorer

            docs = [lexical_document(p) if self.figure_boost else p.text for p in texts]
            self._scorers["lexical"] = LexicalScorer().fit(docs)
            stats.seconds["lexical"] = time.perf_counter() - t
        if "dense" in self.components and "dense" not in self._scorers:
            t = time.perf_counter()
            from .dense import DenseScorer

            self._scorers["dense"] = DenseScorer(self._dense_encoder).fit(
                [[w.text for w in p.words] for p in texts], [figure_passages(p) for p in texts]
            )
            stats.seconds["dense"] = time.perf_counter() - t
        if "layout" in self.components:
            from .layout import LayoutScorer

            self._scorers["layout"] = LayoutScorer().fit(texts)

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
        if not self.page_ids:
            raise RuntimeError("index() must run before search")
        out: dict[str, np.ndarray] = {}
        for name, scorer in self._scorers.items():
            if name == "lexical":
                out[name] = np.vstack([scorer.scores(q) for q in queries]) if queries else np.zeros((0, len(self.page_ids)))
            else:
                out[name] = scorer.scores_many(list(queries))
        return out

    def score(self, queries: Sequence[str]) -> np.ndarray:
        """Fused ``(queries, pages)`` scores; higher is better."""
        comps = self.component_scores(queries)
        if len(comps) == 1:
            return next(iter(comps.values())).astype(np.float64)
        return self.fusion.fuse(comps)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best pages for one query, best first."""
        comps = self.component_scores([query])
        fused = self.fusion.fuse(comps)[0] if len(comps) > 1 else next(iter(comps.values()))[0]
        top = np.argsort(-fused, kind="stable")[:k]
        return [Hit(self.page_ids[i], float(fused[i]), {n: float(s[0, i]) for n, s in comps.items()}) for i in top]


def lexical_document(text: PageText) -> str:
    """The page's words, with figure text and captions repeated once: what a figure shows
    is what a user describes, so those words count double."""
    return " ".join([text.text, *figure_passages(text)])


def _blank() -> Any:
    from PIL import Image

    return Image.new("RGB", (64, 64), "white")
