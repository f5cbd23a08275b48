"""Page-retrieval data sets in the BEIR / ViDoRe layout, read from a local folder: the one loader.

::

    my-dataset/
        queries.jsonl        {"_id": "q1", "text": "...", "kind": "chart"} per line (kind optional)
        qrels/test.tsv       header "query-id<TAB>corpus-id<TAB>score", then one line per judgement
                             (score > 0 is relevant; other splits beside it)
        corpus/              every page of every PDF here (recursively) is a page, and every
                             page image is one; or, listing the pages instead,
        corpus.jsonl         {"pdf": "pdfs/report.pdf", "page": 3, "form": "pdf" | "scan"} or
        (or manifest.jsonl)  {"image": "images/p1.png"} per line, optionally with "_id"/"corpus-id"

Corpus ids are page ids (:func:`vertex_mm.pages.page_id`): ``"<pdf stem>#<page>"`` for a PDF
page, the stem for an image file; an id given in the list must be that id. A listed page of
``form: "scan"`` is read as a scan: rendered to a 200-dpi grayscale image, without its text
layer (the project fixture ``tests/fixtures/pagesearch`` uses it to exercise the OCR path on
real pages).

Nothing is downloaded: a ViDoRe set exported from the hub (queries, corpus images, qrels) is
read once it is laid out like this on disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._jsonl import json_objects
from ...errors import InputError
from ...evaluation.qrels import read_qrels
from ..ingest import PageRef, expand_sources

__all__ = ["PageDataset", "load_dataset"]

_PAGE_LISTS = ("corpus.jsonl", "manifest.jsonl")
_FORMS = ("pdf", "scan")


@dataclass
class PageDataset:
    """Pages, queries (with optional kinds) and relevance judgements of one split."""

    root: Path
    split: str
    pages: list[PageRef]
    queries: dict[str, str]
    kinds: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def query_ids(self) -> list[str]:
        """Queries that have judgements in this split, in file order."""
        return [q for q in self.queries if q in self.qrels]


def load_dataset(root: str | os.PathLike[str], split: str = "test") -> PageDataset:
    """Read the data set at ``root``; raises :class:`InputError` naming the file and what is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such data set folder", input_name=str(root))
    pages = _read_corpus(root)
    queries, kinds = _read_queries(root / "queries.jsonl")
    qrels = read_qrels(root / "qrels" / f"{split}.tsv")
    if not qrels:  # it printed RESULT ndcg5=0.000 over 0 queries and exited 0
        raise InputError(f"{root}: qrels/{split}.tsv judges no page relevant to any query", input_name=str(root))
    known: dict[str, Path] = {}
    for page in pages:  # a/report.pdf and b/report.pdf share ids: a hit on either got the credit
        other = known.setdefault(page.page_id, page.path)
        if other != page.path:
            raise InputError(f"{root}: {other} and {page.path} both give page id {page.page_id!r}; give the "
                             "documents distinct file names (or doc ids)", input_name=str(root))
    missing = sorted({c for rel in qrels.values() for c in rel} - known.keys())
    if missing:
        raise InputError(f"{root}: qrels/{split}.tsv names pages not in the corpus: {missing[:5]}", input_name=str(root))
    unknown_q = sorted(set(qrels) - set(queries))
    if unknown_q:
        raise InputError(f"{root}: qrels/{split}.tsv names queries missing from queries.jsonl: {unknown_q[:5]}",
                         input_name=str(root))
    return PageDataset(root, split, pages, queries, kinds, qrels)


def _read_corpus(root: Path) -> list[PageRef]:
    for name in _PAGE_LISTS:
        if (root / name).is_file():
            return [_listed_page(root, row, f"{root / name}:{n}") for n, row in _read_jsonl(root / name)]
    if (root / "corpus").is_dir():
        return expand_sources([root / "corpus"])
    raise InputError(f"{root}: neither corpus/ nor {' / '.join(_PAGE_LISTS)} found "
                     "(BEIR layout: corpus/, queries.jsonl, qrels/<split>.tsv)", input_name=str(root))


def _listed_page(root: Path, row: dict[str, Any], where: str) -> PageRef:
    try:
        if "image" in row:
            ref = PageRef(root / str(row["image"]))
        else:
            form = row.get("form", "pdf")
            if form not in _FORMS:
                raise InputError(f"{where}: form must be 'pdf' or 'scan', got {form!r}", input_name=where)
            ref = PageRef(root / str(row["pdf"]), int(row["page"]), scan=form == "scan")
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: expected {{\"pdf\", \"page\"}} or {{\"image\"}} ({exc!r})", input_name=where) from exc
    given = row.get("_id", row.get("corpus-id"))
    if given is not None and str(given) != ref.page_id:
        raise InputError(f"{where}: corpus id {given!r} is not the page's id {ref.page_id!r} (<pdf stem>#<page>, or an "
                         "image's stem)", input_name=where)
    return ref


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    return [(n, row) for _where, n, row in json_objects(path)]


def _read_queries(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: missing (one JSON object per line with _id and text)", input_name=str(path))
    queries: dict[str, str] = {}
    kinds: dict[str, str] = {}
    lines: dict[str, int] = {}
    for n, row in _read_jsonl(path):
        try:
            qid, text = str(row["_id"]), row["text"]
        except KeyError as exc:
            raise InputError(f"{path}:{n}: expected {{\"_id\", \"text\"}} ({exc})", input_name=str(path)) from exc
        if not isinstance(text, str) or not text.strip():  # null was the query "None"
            raise InputError(f"{path}:{n}: text must be a non-empty string, got {text!r}", input_name=str(path))
        if qid in lines:  # the later line silently replaced the earlier query
            raise InputError(f"{path}:{n}: query id {qid!r} was already given on line {lines[qid]}", input_name=str(path))
        lines[qid] = n
        queries[qid] = text
        if row.get("kind"):
            kinds[qid] = str(row["kind"])
    return queries, kinds
