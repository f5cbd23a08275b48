"""Page-retrieval datasets in the ViDoRe / BEIR layout, read from a local folder.

::

    my-dataset/
        queries.jsonl        {"_id": "q1", "text": "..."} per line
        qrels/test.tsv       query-id <TAB> corpus-id <TAB> score   (header line; other splits beside it)
        corpus.jsonl         optional: {"_id": ..., "image": "images/p1.png"} or
                             {"_id": ..., "pdf": "corpus/report.pdf", "page": 3}
        corpus/              without corpus.jsonl: every page of every PDF here is a corpus page,
                             id "<pdf stem>#<page>", and every image file is one, id its stem

Nothing is downloaded: a ViDoRe set exported from the hub (``queries``, ``corpus`` images,
``qrels``) is read once it is laid out like this on disk.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError
from ..ingest import DEFAULT_DPI, IMAGE_SUFFIXES, PageImage, iter_pdf_pages

__all__ = ["PageDataset", "corpus_id", "load_dataset"]


@dataclass
class PageDataset:
    """Queries, qrels and a lazily rendered page corpus."""

    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus: dict[str, dict[str, object]] = field(default_factory=dict)  # id -> {"pdf", "page"} or {"image"}
    dpi: float = DEFAULT_DPI

    def iter_pages(self) -> Iterator[PageImage]:
        """Every corpus page as a :class:`PageImage`; ``corpus_id(page)`` gives its corpus id."""
        from PIL import Image

        by_pdf: dict[str, dict[int, str]] = {}
        for cid, entry in self.corpus.items():
            if "pdf" in entry:
                by_pdf.setdefault(str(entry["pdf"]), {})[int(entry["page"])] = cid  # type: ignore[arg-type]
            else:
                path = self.root / str(entry["image"])
                with Image.open(path) as im:
                    yield PageImage(cid, 1, im.convert("RGB"), source=str(path), extra={"corpus_id": cid})
        for pdf, ids in by_pdf.items():
            for page in iter_pdf_pages(self.root / pdf, dpi=self.dpi, pages=sorted(ids)):
                page.extra["corpus_id"] = ids[page.page_number]
                yield page


def corpus_id(page: PageImage) -> str:
    """The dataset id of a page from :meth:`PageDataset.iter_pages` (else ``doc#page``)."""
    return str(page.extra.get("corpus_id", page.key))


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_dataset(root: str | Path, *, split: str = "test", dpi: float = DEFAULT_DPI) -> PageDataset:
    """Read a dataset folder (layout above); raises :class:`InputError` naming a missing file."""
    root = Path(root)
    qpath, rpath = root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    for p in (qpath, rpath):
        if not p.is_file():
            raise InputError(f"dataset {str(root)!r} has no {p.relative_to(root)} (BEIR/ViDoRe layout expected)", input_name=str(p))
    queries = {str(r["_id"]): str(r["text"]) for r in _read_jsonl(qpath)}
    qrels: dict[str, dict[str, int]] = {}
    with open(rpath, newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    corpus: dict[str, dict[str, object]] = {}
    if (root / "corpus.jsonl").is_file():
        for r in _read_jsonl(root / "corpus.jsonl"):
            corpus[str(r["_id"])] = {k: v for k, v in r.items() if k in ("pdf", "page", "image")}
    else:
        from ..ingest import pdf_page_count

        for f in sorted((root / "corpus").iterdir()):
            if f.suffix.lower() == ".pdf":
                for n in range(1, pdf_page_count(f) + 1):
                    corpus[f"{f.stem}#{n}"] = {"pdf": str(f.relative_to(root)), "page": n}
            elif f.suffix.lower() in IMAGE_SUFFIXES:
                corpus[f.stem] = {"image": str(f.relative_to(root))}
    unknown = {d for rels in qrels.values() for d in rels} - set(corpus)
    if unknown:
        raise InputError(f"qrels name pages not in the corpus: {sorted(unknown)[:5]}", input_name=str(rpath))
    qrels = {q: r for q, r in qrels.items() if q in queries}
    return PageDataset(root, queries, qrels, corpus, dpi)
