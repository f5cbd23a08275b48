"""The methods of the evaluation table, each behind ``fit(pages)`` / ``search(queries, k)``.

* :class:`LateInteractionRetriever` — MaxSim over a :class:`MultiVectorEmbedder`'s page vectors
  (``mode="binary"``: Hamming-MaxSim candidates, float rerank).
* :class:`MeanPooledRetriever` — the single-vector baseline of the ViDoRe paper: each page and
  query becomes the normalised mean of its vectors, scored by cosine.
* :class:`OcrBm25Retriever` — the text baseline: tesseract OCR of the page image, BM25 (bm25s).

``search`` returns a run: query id -> {corpus id: score} for the top ``k`` pages.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ...errors import MissingDependencyError
from ...late_interaction import BinaryPages, PackedPages, maxsim, top_k, two_stage_search
from ..embedder import MultiVectorEmbedder
from ..ingest import PageImage
from .dataset import corpus_id

__all__ = ["EmbeddedCorpus", "LateInteractionRetriever", "MeanPooledRetriever", "OcrBm25Retriever", "ocr_page"]


class EmbeddedCorpus:
    """Page vectors of one embedder, computed once and shared by the methods that need them."""

    def __init__(self, embedder: MultiVectorEmbedder, pages: Sequence[PageImage], *, batch_size: int = 8) -> None:
        self.embedder = embedder
        self.ids = [corpus_id(p) for p in pages]
        vectors: list[np.ndarray] = []
        for i in range(0, len(pages), batch_size):
            vectors.extend(embedder.embed_pages(pages[i : i + batch_size]))
        self.pages = PackedPages.from_list(vectors)
        self._binary: BinaryPages | None = None

    @property
    def binary(self) -> BinaryPages:
        if self._binary is None:
            self._binary = BinaryPages.from_pages(self.pages)
        return self._binary


def _run(qids: Sequence[str], ids: Sequence[str], scores: np.ndarray, index: np.ndarray) -> dict[str, dict[str, float]]:
    return {q: {ids[int(j)]: float(s) for s, j in zip(srow, irow)} for q, srow, irow in zip(qids, scores, index)}


class LateInteractionRetriever:
    """MaxSim search; ``mode`` is ``"float"`` or ``"binary"`` (two-stage)."""

    def __init__(self, corpus: EmbeddedCorpus, *, mode: str = "float", candidates: int = 16, compute: str = "float32") -> None:
        self.corpus, self.mode, self.candidates, self.compute = corpus, mode, candidates, compute

    @property
    def name(self) -> str:
        base = f"late interaction ({self.corpus.embedder.space.model})"
        return base if self.mode == "float" else f"{base}, binary + rerank"

    def search(self, queries: Mapping[str, str], k: int = 10) -> dict[str, dict[str, float]]:
        qids = list(queries)
        qvecs = self.corpus.embedder.embed_queries([queries[q] for q in qids])
        if self.mode == "binary":
            scores, index = two_stage_search(qvecs, self.corpus.binary, self.corpus.pages, k, candidates=self.candidates, compute=self.compute)
        else:
            scores, index = top_k(maxsim(qvecs, self.corpus.pages, compute=self.compute), k)  # type: ignore[arg-type]
        return _run(qids, self.corpus.ids, scores, index)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class MeanPooledRetriever:
    """Single vector per page and per query (mean of its vectors), cosine similarity."""

    def __init__(self, corpus: EmbeddedCorpus) -> None:
        self.corpus = corpus
        p = corpus.pages
        sums = np.add.reduceat(p.tokens.astype(np.float32), p.offsets[:-1], axis=0)
        self.page_vectors = _unit(sums / p.lengths[:, None])

    @property
    def name(self) -> str:
        return f"single vector, mean-pooled ({self.corpus.embedder.space.model})"

    def search(self, queries: Mapping[str, str], k: int = 10) -> dict[str, dict[str, float]]:
        qids = list(queries)
        qvecs = np.stack([_unit(v.mean(axis=0)) for v in self.corpus.embedder.embed_queries([queries[q] for q in qids])])
        scores, index = top_k(qvecs @ self.page_vectors.T, k)
        return _run(qids, self.corpus.ids, scores, index)


def ocr_page(image: Any, *, lang: str = "eng", timeout: float = 120.0) -> str:
    """Text of a page image by the tesseract command (Debian package ``tesseract-ocr``)."""
    exe = shutil.which("tesseract")
    if exe is None:
        raise MissingDependencyError("OCR needs the tesseract command: apt-get install tesseract-ocr")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one thread each; pages run in parallel instead
    out = subprocess.run([exe, "stdin", "stdout", "-l", lang], input=buf.getvalue(), capture_output=True, timeout=timeout, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"tesseract failed ({out.returncode}): {out.stderr.decode(errors='replace')[-300:]}")
    return out.stdout.decode("utf-8", errors="replace")


class OcrBm25Retriever:
    """Tesseract OCR of each page image, then BM25 over the page texts (bm25s, English stop words)."""

    name = "OCR (tesseract) + BM25"

    def __init__(self, pages: Sequence[PageImage], *, lang: str = "eng", workers: int | None = None) -> None:
        try:
            import bm25s
        except ImportError as exc:
            raise MissingDependencyError("the OCR + BM25 baseline needs bm25s: pip install bm25s") from exc
        self._bm25s = bm25s
        self.ids = [corpus_id(p) for p in pages]
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            self.texts = list(pool.map(lambda p: ocr_page(p.image, lang=lang), pages))
        self.model = bm25s.BM25()
        self.model.index(bm25s.tokenize(self.texts, stopwords="en", show_progress=False), show_progress=False)

    def search(self, queries: Mapping[str, str], k: int = 10) -> dict[str, dict[str, float]]:
        qids = list(queries)
        tokens = self._bm25s.tokenize([queries[q] for q in qids], stopwords="en", show_progress=False)
        docs, scores = self.model.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False)
        return {q: {self.ids[int(d)]: float(s) for d, s in zip(drow, srow) if s > 0} for q, drow, srow in zip(qids, docs, scores)}
