"""Relevance judgements in the BEIR / TREC layout: the one reader of ``qrels/<split>.tsv``.

A tab-separated file with the header ``query-id  corpus-id  score``; a score above 0 marks the
corpus item relevant to the query. Used by the page-search evaluation
(:mod:`vertex_mm.pages.eval`) and by the evaluation data sets (:mod:`.datasets`).

The file is UTF-8; a byte-order mark (as Excel and other Windows tools write) is skipped. Every
malformed line is refused with an :class:`~vertex_mm.errors.InputError` naming ``file:line``:
text that is not UTF-8, fewer than three fields, an empty id, a score that is not a whole
number, and a (query, corpus item) pair judged twice (the later line silently won).
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from ..errors import InputError

__all__ = ["read_qrels", "write_qrels"]

HEADER = ["query-id", "corpus-id", "score"]


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})", input_name=str(path)) from exc
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8",
                         input_name=str(path)) from exc


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {corpus id: relevance} of the relevant items; typed errors name the line."""
    if not path.is_file():
        raise InputError(f"{path}: missing (header: query-id, corpus-id, score)", input_name=str(path))
    qrels: dict[str, dict[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    reader = csv.reader(io.StringIO(_text(path), newline=""), delimiter="\t")
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
        if not qid or not cid:
            raise InputError(f"{path}:{n}: empty {'query-id' if not qid else 'corpus-id'}", input_name=str(path))
        if not grade.is_integer():  # 0.5 was truncated to 0 (not relevant); inf crashed
            raise InputError(f"{path}:{n}: the score must be a whole number (a relevance grade), got {row[2]!r}",
                             input_name=str(path))
        if (qid, cid) in seen:
            raise InputError(f"{path}:{n}: query {qid!r} and corpus item {cid!r} were already judged on line "
                             f"{seen[qid, cid]}", input_name=str(path))
        seen[qid, cid] = n
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
