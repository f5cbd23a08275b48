"""Saving an OCR-assisted index to a folder and opening it again.

What is stored: each page's words with boxes and its figure regions (``pages.jsonl``), the
dense passage vectors (``dense.npz``), the region vectors (``visual.npz``) and a manifest with
the retriever name, components and fusion weights. BM25 and the layout signal are rebuilt
from the stored words on open (milliseconds per thousand pages), so the folder holds no
library-specific pickles. The models that embed queries are loaded from local files on open.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

from vertex_mm.errors import InputError

from .fusion import Fusion
from .retriever import RETRIEVER_NAME, OcrAssistedPageRetriever
from .words import Box, PageText, Word

__all__ = ["FORMAT", "is_fused_index", "open_index", "save_index"]

FORMAT = 1


def is_fused_index(path: str | os.PathLike[str]) -> bool:
    m = pathlib.Path(path) / "fused_manifest.json"
    if not m.is_file():
        return False
    try:
        return json.loads(m.read_text(encoding="utf-8")).get("retriever") == RETRIEVER_NAME
    except ValueError:
        return False


def save_index(retriever: OcrAssistedPageRetriever, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write ``retriever``'s index into the folder ``path`` (created; files replaced)."""
    root = pathlib.Path(path)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "pages.jsonl").open("w", encoding="utf-8") as f:
        for page in retriever.pages:
            src = retriever.sources.get(page.page_id, ("", 1))
            f.write(json.dumps({
                "page_id": page.page_id, "source": page.source, "file": src[0], "page": src[1],
                "words": [[w.text, w.box.x0, w.box.y0, w.box.x1, w.box.y1, w.source] for w in page.words],
                "figures": [[b.x0, b.y0, b.x1, b.y1] for b in page.figure_boxes],
            }) + "\n")
    dense = retriever._scorers.get("dense")
    if dense is not None:
        np.savez(root / "dense.npz", vectors=dense._vectors, owner=dense._owner)
    visual = retriever._scorers.get("visual")
    if visual is not None:
        lengths = np.array([v.shape[0] for v in visual.vectors], np.int64)
        tokens = np.vstack(visual.vectors) if visual.vectors else np.zeros((0, 384), np.float32)
        np.savez(root / "visual.npz", tokens=tokens.astype(np.float16), lengths=lengths)
    manifest = {
        "retriever": RETRIEVER_NAME, "format": FORMAT, "components": list(retriever.components),
        "fusion": {"method": retriever.fusion.method, "weights": dict(retriever.fusion.weights), "rrf_k": retriever.fusion.rrf_k},
        "figure_boost": retriever.figure_boost, "pages": len(retriever.pages),
        "note": "OCR-assisted fused retriever (text layer / tesseract words, BM25, MiniLM windows, CNN regions); not ColPali",
    }
    (root / "fused_manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root


def open_index(path: str | os.PathLike[str], **kwargs: Any) -> OcrAssistedPageRetriever:
    """An :class:`OcrAssistedPageRetriever` ready to search, from a folder :func:`save_index` wrote."""
    root = pathlib.Path(path)
    if not is_fused_index(root):
        raise InputError(f"{root}: not an {RETRIEVER_NAME} index (fused_manifest.json missing)", input_name=str(root))
    manifest = json.loads((root / "fused_manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise InputError(f"{root}: index format {manifest.get('format')} is not {FORMAT}; re-index", input_name=str(root))
    fusion = Fusion(**manifest["fusion"])
    r = OcrAssistedPageRetriever(components=manifest["components"], fusion=fusion,
                                 figure_boost=manifest.get("figure_boost", True), **kwargs)
    pages = []
    sources = {}
    for line in (root / "pages.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        sources[row["page_id"]] = (row.get("file", ""), int(row.get("page", 1)))
        words = [Word(t, Box(a, b, c, d), s) for t, a, b, c, d, s in row["words"]]
        pages.append(PageText(row["page_id"], words, [Box(*f) for f in row["figures"]], row["source"]))
    scorers: dict[str, Any] = {}
    if "dense" in r.components:
        from .dense import DenseScorer

        arr = np.load(root / "dense.npz")
        d = DenseScorer(r._dense_encoder)
        d._vectors, d._owner, d.n_docs = arr["vectors"], arr["owner"], len(pages)
        scorers["dense"] = d
    if "visual" in r.components:
        from .visual import VisualScorer

        arr = np.load(root / "visual.npz")
        v = VisualScorer(r._visual_embedder)
        ends = np.cumsum(arr["lengths"])
        tokens = arr["tokens"].astype(np.float32)
        v._vectors = [tokens[e - n : e] for e, n in zip(ends, arr["lengths"])]
        scorers["visual"] = v
    r.attach(pages, scorers)
    r.sources = sources
    return r
