"""Entry points for ``vertex-mm pages index|search --embedder ocr-fused`` and the PDF example.

Each prints which retriever answered, so an OCR-assisted result is never taken for ColPali's.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from .retriever import RETRIEVER_NAME, Hit, OcrAssistedPageRetriever
from .sources import expand_paths
from .store import open_index, save_index

__all__ = ["ANSWERED_BY", "index_command", "search_command", "search_folder"]

ANSWERED_BY = (f"answered by {RETRIEVER_NAME}: OCR-assisted fused retriever (PDF text layer / tesseract words "
               "+ BM25, MiniLM passages, CNN region vectors); not ColPali")


def index_command(sources: Sequence[str | os.PathLike[str]], index_dir: str | os.PathLike[str], *,
                  workers: int | None = None, out: TextIO | None = None) -> int:
    """Index PDFs / page images / folders into ``index_dir`` (replacing what is there)."""
    out = out or sys.stdout
    r = OcrAssistedPageRetriever(ocr_workers=workers)
    stats = r.index(expand_paths(sources))
    save_index(r, index_dir)
    print(f"indexed {stats.pages} pages with {RETRIEVER_NAME} into {index_dir}: text layer {stats.text_layer_pages}, "
          f"OCR {stats.ocr_pages} pages + {stats.ocr_regions} image regions, {stats.pages_per_second:.2f} pages/s", file=out)
    for e in stats.errors:
        print(f"  unreadable: {e}", file=out)
    return 0


def _print_hits(r: OcrAssistedPageRetriever, queries: Sequence[str], hits: Sequence[Sequence[Hit]],
                as_json: bool, out: TextIO) -> None:
    if not as_json:
        print(ANSWERED_BY, file=out)
    for query, q_hits in zip(queries, hits):
        if as_json:
            print(json.dumps({"query": query, "retriever": RETRIEVER_NAME, "hits": [
                {"page_id": h.page_id, "file": r.sources.get(h.page_id, ("", 1))[0], "page": r.sources.get(h.page_id, ("", 1))[1],
                 "score": h.score, "components": dict(h.components)} for h in q_hits]}), file=out)
            continue
        print(query, file=out)
        for rank, h in enumerate(q_hits, 1):
            file, page = r.sources.get(h.page_id, ("", 1))
            print(f"  {rank}. {h.page_id}  ({os.path.basename(file)} p.{page})  score {h.score:.3f}", file=out)


def search_command(index_dir: str | os.PathLike[str], queries: Sequence[str], *, k: int = 5,
                   as_json: bool = False, out: TextIO | None = None) -> int:
    """Answer ``queries`` from an index :func:`index_command` wrote; prints who answered."""
    out = out or sys.stdout
    r = open_index(index_dir)
    _print_hits(r, queries, [r.search(q, k=k) for q in queries], as_json, out)
    return 0


def search_folder(folder: str | os.PathLike[str], queries: Sequence[str], *, k: int = 3,
                  workers: int | None = None, out: TextIO | None = None) -> dict[str, list[Hit]]:
    """Index ``folder`` in memory and answer ``queries``: the offline PDF-search example."""
    out = out or sys.stdout
    r = OcrAssistedPageRetriever(ocr_workers=workers)
    stats = r.index(expand_paths([folder]))
    print(f"indexed {stats.pages} pages ({stats.text_layer_pages} text layer, {stats.ocr_pages} OCR) "
          f"at {stats.pages_per_second:.2f} pages/s", file=out)
    hits = [r.search(q, k=k) for q in queries]
    _print_hits(r, queries, hits, False, out)
    return dict(zip(queries, hits))
