"""Relevance judgements in the BEIR / TREC layout: the one reader of ``qrels/<split>.tsv``.

A tab-separated file with the header ``query-id  corpus-id  score``; a score above 0 marks the
corpus item relevant to the query. Used by the page-search evaluation
(:mod:`vertex_mm.pages.eval`) and by the evaluation data sets (:mod:`.datasets`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import InputError

__all__ = ["read_qrels", "write_qrels"]

HEADER = ["query-id", "corpus-id", "score"]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {corpus id: relevance} of the relevant items; typed errors name the line."""
    if not path.is_file():
        raise InputError(f"{path}: missing (header: query-id, corpus-id, score)", input_name=str(path))
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != HEADER:
            raise InputError(f"{path}: first line must be 'query-id<TAB>corpus-id<TAB>score', got {header}",
                             input_name=str(path))
        for n, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            try:
                qid, cid, grade = row[0].strip(), row[1].strip(), float(row[2])
            except (IndexError, ValueError) as exc:
                raise InputError(f"{path}:{n}: expected three tab-separated fields ({exc})", input_name=str(path)) from exc
            if not grade.is_integer():  # 0.5 was truncated to 0 (not relevant); inf crashed
                raise InputError(f"{path}:{n}: the score must be a whole number (a relevance grade), got {row[2]!r}",
                                 input_name=str(path))
            score = int(grade)
            if score > 0:
                qrels.setdefault(qid, {})[cid] = score
    return qrels


def write_qrels(path: Path, qrels: dict[str, list[str]] | dict[str, dict[str, int]]) -> None:
    """Write judgements in the same layout (relevance 1 for a list of corpus ids)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["\t".join(HEADER)]
    for qid, rels in qrels.items():
        items = rels.items() if isinstance(rels, dict) else ((cid, 1) for cid in rels)
        rows += [f"{qid}\t{cid}\t{score}" for cid, score in items]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
