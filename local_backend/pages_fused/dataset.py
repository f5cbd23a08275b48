"""A page-retrieval data set in the BEIR layout, and the project fixture's manifest form.

BEIR layout (what ``vertex-mm pages eval DIR`` reads)::

    DIR/corpus/<corpus-id>.png      page images (any image type), or
    DIR/corpus/<name>.pdf           PDFs: a one-page PDF is <name>, page n of a longer one <name>-p<nn>
    DIR/queries.jsonl               {"_id": ..., "text": ..., "kind": optional (table/figure/chart/text)}
    DIR/qrels/<split>.tsv           header "query-id<TAB>corpus-id<TAB>score", score > 0 = relevant

Manifest form (the project fixture, which commits its PDFs rather than page images): instead
of ``corpus/``, ``DIR/manifest.jsonl`` lists ``{"corpus-id", "pdf", "page", "form"}`` with
``form`` ``"pdf"`` (the page as the PDF has it, text layer included) or ``"scan"`` (the page
rendered to an image at ``scan_dpi``, as a scanner would deliver it: no text layer).
:func:`materialize_manifest` writes those pages into a ``corpus/`` folder once, cached.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pathlib
from dataclasses import dataclass, field

from vertex_mm.errors import InputError

from .sources import PageRef, expand_paths

__all__ = ["PageDataset", "load_dataset", "materialize_manifest"]

SCAN_DPI = 200


@dataclass
class PageDataset:
    """Pages, queries (with optional kinds) and relevance judgements of one split."""

    root: pathlib.Path
    pages: list[PageRef]
    queries: dict[str, str]
    kinds: dict[str, str]
    qrels: dict[str, dict[str, int]]
    split: str
    corpus_dir: pathlib.Path = field(default_factory=pathlib.Path)

    @property
    def query_ids(self) -> list[str]:
        """Queries that have judgements in this split, in file order."""
        return [q for q in self.queries if q in self.qrels]


def load_dataset(root: str | os.PathLike[str], split: str = "test", *, cache_dir: str | os.PathLike[str] | None = None) -> PageDataset:
    """Load ``root`` (BEIR layout, or manifest form materialised on the fly)."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such data set folder", input_name=str(root))
    corpus = root / "corpus"
    if not corpus.is_dir():
        if not (root / "manifest.jsonl").is_file():
            raise InputError(f"{root}: neither corpus/ nor manifest.jsonl found (BEIR layout: corpus/, queries.jsonl, qrels/<split>.tsv)", input_name=str(root))
        corpus = materialize_manifest(root, cache_dir=cache_dir)
    queries, kinds = _read_queries(root / "queries.jsonl")
    qrels = _read_qrels(root / "qrels" / f"{split}.tsv")
    pages = expand_paths([corpus])
    known = {p.page_id for p in pages}
    missing = sorted({c for rel in qrels.values() for c in rel} - known)
    if missing:
        raise InputError(f"{root}: qrels/{split}.tsv names pages not in the corpus: {missing[:5]}", input_name=str(root))
    unknown_q = sorted(set(qrels) - set(queries))
    if unknown_q:
        raise InputError(f"{root}: qrels/{split}.tsv names queries missing from queries.jsonl: {unknown_q[:5]}", input_name=str(root))
    return PageDataset(root, pages, queries, kinds, qrels, split, corpus)


def _read_queries(path: pathlib.Path) -> tuple[dict[str, str], dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path}: missing (one JSON object per line with _id and text)", input_name=str(path))
    queries: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            qid, text = str(row["_id"]), str(row["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{n}: expected {{\"_id\", \"text\"}} ({exc})", input_name=str(path)) from exc
        queries[qid] = text
        if row.get("kind"):
            kinds[qid] = str(row["kind"])
    return queries, kinds


def _read_qrels(path: pathlib.Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise InputError(f"{path}: missing (header: query-id, corpus-id, score)", input_name=str(path))
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise InputError(f"{path}: first line must be 'query-id<TAB>corpus-id<TAB>score', got {header}", input_name=str(path))
        for n, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            try:
                qid, cid, score = row[0].strip(), row[1].strip(), int(float(row[2]))
            except (IndexError, ValueError) as exc:
                raise InputError(f"{path}:{n}: expected three tab-separated fields ({exc})", input_name=str(path)) from exc
            if score > 0:
                qrels.setdefault(qid, {})[cid] = score
    return qrels


def materialize_manifest(root: pathlib.Path, *, cache_dir: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Write the pages that ``root/manifest.jsonl`` names into a cached ``corpus/`` folder.

    ``form: "pdf"`` pages become one-page PDFs (text layer kept), ``form: "scan"`` pages PNGs
    rendered at :data:`SCAN_DPI`. The folder is keyed by a hash of the manifest and the PDFs,
    so it is built once per fixture version.
    """
    import pypdfium2 as pdfium

    manifest = root / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    h = hashlib.sha256(manifest.read_bytes())
    h.update(str(SCAN_DPI).encode())
    for pdf in sorted({r["pdf"] for r in rows}):
        h.update((root / pdf).read_bytes())
    base = pathlib.Path(cache_dir) if cache_dir else pathlib.Path(
        os.environ.get("VERTEX_MM_CACHE_DIR") or pathlib.Path.home() / ".cache" / "vertex-mm")
    out = base / "page-datasets" / f"{root.name}-{h.hexdigest()[:16]}" / "corpus"
    if (out / ".complete").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    docs: dict[str, object] = {}
    try:
        for r in rows:
            cid, pdf, page, form = r["corpus-id"], r["pdf"], int(r["page"]), r.get("form", "pdf")
            if pdf not in docs:
                docs[pdf] = pdfium.PdfDocument(str(root / pdf))
            src = docs[pdf]
            if form == "scan":
                p = src[page - 1]  # type: ignore[index]
                p.render(scale=SCAN_DPI / 72).to_pil().convert("L").save(out / f"{cid}.png", optimize=False)
                p.close()
            elif form == "pdf":
                one = pdfium.PdfDocument.new()
                one.import_pages(src, [page - 1])  # type: ignore[arg-type]
                one.save(str(out / f"{cid}.pdf"))
                one.close()
            else:
                raise InputError(f"{manifest}: corpus-id {cid}: form must be 'pdf' or 'scan', got {form!r}", input_name=str(manifest))
    finally:
        for d in docs.values():
            d.close()  # type: ignore[attr-defined]
    (out / ".complete").write_text("ok\n")
    return out
