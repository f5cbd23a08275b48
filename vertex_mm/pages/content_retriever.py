"""Page search with one vector per page from a content embedder: gemini-embedding-2 on Google Cloud.

>>> from vertex_mm.registry import get_page_retriever
>>> r = get_page_retriever("gemini", project="my-proj", dimension=768)   # doctest: +SKIP
>>> r.index(expand_sources(["reports/"]), save_to="pages.idx")            # doctest: +SKIP
>>> r.search(["revenue by quarter"], k=5)                                # doctest: +SKIP

Each page goes to the model as it is: a PDF page as a one-page PDF (the model reads its text
and its pictures), a page image as an image; ``pages_per_vector=N`` (2..6; the default 1 is a
vector per page) sends N consecutive pages of a PDF as one content instead, and every page of a chunk gets the chunk's score.
Pages are embedded with ``task="retrieval_document"`` and queries with
``task="retrieval_query"``, through the batch engine (quota, retries, per-page errors).

The vectors live in a :class:`~vertex_mm.index.FlatIndex` (one row per page or chunk), saved in
``vectors/`` under an index of kind ``content-pages`` whose manifest records the backend, the
dimension and the chunking, never credentials or endpoints. Indexing saves after every batch
and skips pages already in the index, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..batch.interrupt import BatchInterrupted
from ..content import Part
from ..errors import InputError, VertexMMError
from ..index.errors import IndexKindError
from ..index.flat import FlatIndex
from ..index.load import index_kind
from ..index.manifest import Manifest
from ..index.persist import write_directory
from ..index.results import PageHit
from ..media import Document, Image
from ..results import Embeddings
from .ingest import SCAN_DPI, OpenPdfs, PageRef, nfc, refuse_held_elsewhere, unique_refs
from .retriever import IndexStats

__all__ = ["KIND", "ContentPageRetriever", "load_content_retriever", "load_vectors", "saved_embedder"]

KIND = "content-pages"
VECTORS = "vectors"
#: gemini-embedding-2 reads at most this many pages of one PDF (``vertex_mm.limits``).
MAX_PAGES_PER_VECTOR = 6
#: Contents per embedding call and per save: a killed run loses at most one batch.
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class _Chunk:
    """Consecutive pages of one document, embedded as one content."""

    refs: tuple[PageRef, ...]

    @property
    def id(self) -> str:
        first, last = self.refs[0], self.refs[-1]
        return first.page_id if len(self.refs) == 1 else f"{first.doc_id}#{first.page_number}-{last.page_number}"

    def metadata(self) -> dict[str, Any]:
        ref = self.refs[0]
        return {"doc_id": ref.doc_id, "source": str(ref.path), "pages": [r.page_number for r in self.refs],
                "page_ids": [r.page_id for r in self.refs]}


class ContentPageRetriever:
    """:class:`~vertex_mm.pages.PageRetriever` with one vector per page (or chunk of pages)
    from an embedder's ``embed_contents`` (gemini-embedding-2, or any backend that embeds
    PDFs and images as contents)."""

    def __init__(self, embedder: Any, *, name: str = "gemini", dimension: int = 768, pages_per_vector: int = 1,
                 batch_size: int = DEFAULT_BATCH_SIZE, replace: bool = False, progress: bool = False,
                 index: FlatIndex | None = None) -> None:
        if not isinstance(pages_per_vector, int) or not 1 <= pages_per_vector <= MAX_PAGES_PER_VECTOR:
            raise InputError(f"pages_per_vector must be 1..{MAX_PAGES_PER_VECTOR} (the model reads at most "
                             f"{MAX_PAGES_PER_VECTOR} pages of a PDF), got {pages_per_vector!r}", input_name="pages_per_vector")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer, got {batch_size!r}", input_name="batch_size")
        self.embedder, self.name = embedder, name
        self.pages_per_vector, self.batch_size, self.replace, self.progress = pages_per_vector, batch_size, replace, progress
        space = embedder.content_space(dimension, task="retrieval_document")
        if index is not None and index.space != space:
            raise InputError(f"the index holds vectors of {index.space.id}; {name} at dimension {dimension} embeds "
                             f"into {space.id}", input_name="dimension")
        self.dimension = space.dimension
        self.flat = index if index is not None else FlatIndex(space)
        per = "page" if pages_per_vector == 1 else f"{pages_per_vector}-page chunk"
        self.method = f"one vector per {per}"

    @property
    def description(self) -> str:
        return (f"{self.method} from {self.embedder.model} ({self.flat.space.id}), cosine; the model reads each "
                "page itself (text and pictures), no OCR here")

    @property
    def page_ids(self) -> list[str]:
        return [p for meta in self._metas() for p in meta["page_ids"]]

    def _metas(self) -> Iterator[dict[str, Any]]:
        for id_ in self.flat.ids:
            yield self.flat.metadata(id_)

    # -- indexing ------------------------------------------------------------------------------
    def index(self, pages: Iterable[PageRef], *, save_to: str | os.PathLike[str] | None = None) -> IndexStats:
        """Embed ``pages`` (chunked by document) and add them. Pages already in the index are
        skipped (counted in ``stats.skipped``; the new pages of a document are chunked by
        themselves) unless ``replace``; with ``save_to`` the index is saved after every batch. A page
        that fails (unreadable, over a limit, refused by the service) is listed in the stats."""
        stats = IndexStats()
        t0 = time.perf_counter()
        root = Path(save_to) if save_to is not None else None
        refs = unique_refs(pages)
        # in NFC, as refs' ids are: an index built before ids were normalised holds NFD ids of NFD names
        held = {nfc(page): str(meta.get("source", "")) for meta in self._metas() for page in meta["page_ids"]}
        refuse_held_elsewhere(refs, held)  # --replace too: it reads the same documents again, not others of their name
        # Skipped by page, not by chunk: a document that grew since it was chunked (2 pages held as
        # "doc#1-2", now 5) gets chunks of its new pages only, never a second vector of pages 1-2.
        todo = refs if self.replace else [r for r in refs if r.page_id not in held]
        stats.skipped = len(refs) - len(todo)
        bar = _progress_bar(len(refs), self.name) if self.progress else None
        if bar is not None and stats.skipped:
            bar.update(stats.skipped)
        pending: list[_Chunk] = []
        try:
            chunks = list(_chunks(todo, self.pages_per_vector))
            stale = self._outgrown(refs, {c.id for c in chunks}) if self.replace else []
            for chunk in chunks:
                pending.append(chunk)
                if len(pending) == self.batch_size:
                    self._embed_batch(pending, stats, root, bar)
                    pending = []
            if stale:  # after the new vectors are in: a run cut short keeps the old pages
                self.flat.delete(stale, missing_ok=True)
            if pending or root is not None:
                self._embed_batch(pending, stats, root, bar)
        finally:
            if bar is not None:
                bar.close()
        stats.seconds["embed"] = time.perf_counter() - t0
        return stats

    def _outgrown(self, refs: list[PageRef], renewed: set[str]) -> list[str]:
        """Vectors of the documents ``refs`` index again that the new files no longer have: a
        file that shrank from five pages to three must not keep pages four and five."""
        docs = {(r.doc_id, r.is_pdf) for r in refs}
        out = []
        for id_ in self.flat.ids:
            meta = self.flat.metadata(id_)
            if id_ not in renewed and (nfc(meta["doc_id"]), PageRef(Path(meta["source"])).is_pdf) in docs:
                out.append(id_)
        return out

    def _embed_batch(self, chunks: list[_Chunk], stats: IndexStats, root: Path | None, bar: Any) -> None:
        contents: list[list[Part]] = []
        ready: list[_Chunk] = []
        with OpenPdfs() as pdfs:
            for chunk in chunks:
                try:
                    contents.append([_content(chunk, pdfs)])
                    ready.append(chunk)
                except VertexMMError as exc:
                    stats.errors.append(f"{chunk.id}: {exc}")
        if ready:
            try:
                vecs = self.embedder.embed_contents(contents, dimension=self.dimension, task="retrieval_document",
                                                    errors="collect")
            except BatchInterrupted as exc:
                # Ctrl-C: the pages the service already embedded (and billed) are kept and saved, so
                # the --update rerun does not send them again; then the interruption goes on.
                if isinstance(exc.result, Embeddings):
                    self._add(ready, exc.result, stats, failures=False)
                    self._checkpoint(root)
                raise
            self._add(ready, vecs, stats, failures=True)
        self._checkpoint(root)
        if bar is not None:
            bar.update(sum(len(c.refs) for c in chunks))

    def _checkpoint(self, root: Path | None) -> None:
        """Save to ``root`` after a batch, but never *create* an empty index there: when every
        page so far failed (a quota storm, say), an empty index would only make the rerun ask
        for ``--update``; an index that is already there is saved as it is."""
        if root is not None and (len(self.flat) or index_kind(root) is not None):
            self.save(root)

    def _add(self, ready: list[_Chunk], vecs: Embeddings, stats: IndexStats, *, failures: bool) -> None:
        """Upsert the chunks whose vectors came back; list the others as errors when ``failures``
        (not for a batch cut short, whose unfinished rows are no page's fault)."""
        ok = [i for i, e in enumerate(vecs.errors) if e is None]
        if failures:
            for i, err in vecs.failed.items():
                stats.errors.append(f"{ready[i].id}: {err}")
        if ok:
            kept = [ready[i] for i in ok]
            self.flat.upsert([c.id for c in kept], vecs[ok], [c.metadata() for c in kept])
            for c in kept:
                stats.pages += len(c.refs)
                doc = c.refs[0].doc_id
                stats.documents[doc] = stats.documents.get(doc, 0) + len(c.refs)

    # -- search --------------------------------------------------------------------------------
    def _queries(self, queries: Sequence[str]) -> Embeddings:
        if isinstance(queries, str) or not queries:
            raise InputError("queries must be a non-empty list of strings", input_name="queries")
        vecs: Embeddings = self.embedder.embed_contents(list(queries), dimension=self.dimension, task="retrieval_query")
        return vecs

    def score(self, queries: Sequence[str]) -> np.ndarray:
        q = np.asarray(self._queries(queries), dtype=np.float32)
        scores: list[np.ndarray] = []
        widths: list[int] = []
        for _ids, rows, metas in self.flat.iter_rows():
            scores.append(q @ np.asarray(rows, dtype=np.float32).T)
            widths += [len(m["page_ids"]) for m in metas]
        if not scores:
            return np.zeros((len(queries), 0), np.float32)
        # every page of a chunk gets its chunk's score (a page is its own chunk by default)
        return np.repeat(np.concatenate(scores, axis=1), widths, axis=1)

    def search(self, queries: Sequence[str], k: int = 5) -> list[list[PageHit]]:
        if len(self.flat) == 0:
            return [[] for _ in queries]
        results = self.flat.search(self._queries(queries), k=k)  # k chunks hold at least k pages
        out: list[list[PageHit]] = []
        for hits in results:
            pages: list[PageHit] = []
            for h in hits:
                meta = self.flat.metadata(h.id)
                for number, pid in zip(meta["pages"], meta["page_ids"]):
                    pages.append(PageHit(meta["doc_id"], number, h.score, page_id=pid,
                                         metadata={"source": meta["source"], "vector": h.id}))
            out.append(pages[:k])
        return out

    # -- persistence ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"embedder": self.name, "backend": self.embedder.backend, "model": self.embedder.model,
                "pages_per_vector": self.pages_per_vector, "task": "retrieval_document"}

    def save(self, path: str | os.PathLike[str]) -> Path:
        root = Path(path)
        space = self.flat.space

        def write(tmp: Path) -> list[str]:
            self.flat.save(tmp / VECTORS)
            return sorted(str(f.relative_to(tmp)) for f in (tmp / VECTORS).rglob("*") if f.is_file())

        write_directory(root, Manifest(kind=KIND, space=space.id, dimension=space.dimension, count=len(self.page_ids),
                                       files={}, config=self.config()), write)
        return root

    def __repr__(self) -> str:
        return f"ContentPageRetriever(name={self.name!r}, {self.method}, {len(self.flat)} vectors)"


def load_content_retriever(path: str | os.PathLike[str], embedder: Any, *, verify: bool = True,
                           **options: Any) -> ContentPageRetriever:
    """The retriever saved at ``path``, searching with ``embedder`` (which must embed into the
    index's space: the same model and dimension)."""
    root = Path(path)
    manifest = Manifest.read(root)
    if manifest.kind != KIND:
        raise IndexKindError(f"{root} holds a {manifest.kind!r} index, not a {KIND!r} page index")
    flat = load_vectors(root, verify=verify)
    cfg = manifest.config
    return ContentPageRetriever(embedder, name=options.pop("name", cfg.get("embedder", "gemini")),
                                dimension=manifest.dimension, pages_per_vector=int(cfg.get("pages_per_vector", 1)),
                                index=flat, **options)


def saved_embedder(path: str | os.PathLike[str]) -> str:
    """The spec name that built the index at ``path`` (``"gemini"``)."""
    return str(Manifest.read(Path(path)).config.get("embedder", "gemini"))


def load_vectors(path: str | os.PathLike[str], _spec: object = None, *, verify: bool = True) -> FlatIndex:
    """The page vectors of a saved index, as a :class:`FlatIndex` (rows are pages or chunks,
    metadata says which): what :func:`vertex_mm.index.load_index` gives for this kind."""
    root = Path(path)
    Manifest.read(root).verify_files(root, checksums=verify)
    return FlatIndex.load(root / VECTORS, verify=False)


def _progress_bar(total: int, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="page", desc=f"{name} pages", leave=False)


def _chunks(pages: Iterable[PageRef], size: int) -> Iterator[_Chunk]:
    """Runs of up to ``size`` consecutive pages of one PDF; an image or scanned page alone."""
    run: list[PageRef] = []
    for ref in pages:
        joins = (run and ref.is_pdf and not ref.scan and run[-1].path == ref.path and run[-1].doc_id == ref.doc_id
                 and ref.page_number == run[-1].page_number + 1 and len(run) < size)
        if run and not joins:
            yield _Chunk(tuple(run))
            run = []
        run.append(ref)
        if not ref.is_pdf or ref.scan:
            yield _Chunk(tuple(run))
            run = []
    if run:
        yield _Chunk(tuple(run))


def _content(chunk: _Chunk, pdfs: OpenPdfs) -> Document | Image:
    """The part a chunk is sent as: its pages as a PDF, a scan as an image, an image file as it is."""
    ref = chunk.refs[0]
    if not ref.is_pdf:
        return Image.load_from_file(ref.path)
    if ref.scan:  # read as a scanned image: no text layer reaches the model
        image = pdfs.page_image(ref, dpi=SCAN_DPI).image
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return Image(buf.getvalue())
    pdf = pdfs.document(ref.path)
    data = pdf.extract([r.page_number - 1 for r in chunk.refs])
    return Document(data, name=f"{ref.path.name} pages {ref.page_number}-{chunk.refs[-1].page_number}")

