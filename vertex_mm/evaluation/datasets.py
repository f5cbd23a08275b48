"""The project's held-out evaluation sets: manifests shipped in the package, files rebuilt from Debian.

Two sets, each split into ``dev`` (tune on it) and ``test`` (report once) by where the data
comes from, so that nothing tuned on dev has seen a test source:

* **photos**: 312 real photographs from 9 Debian packages, split by package, with 664 text
  queries written by looking at each photo before any model was run on it;
* **pages**: 186 pages of 15 PDF documents (papers, reports, slides, manuals, forms, a letter;
  two documents are read as 200-dpi scans without a text layer), split by document, with 101
  queries labelled chart/figure/table/text/form/slide.

What ships (``data/evalsets/``): the manifests (source package, version, path inside it,
sha256, licence and author of every file), the queries and the relevance judgements. What is
rebuilt: the files themselves, from the Debian packages named in the manifests::

    vertex-mm eval-data build photos|pages|all [--out DIR] [--debs DIR]

downloads each package once (``apt-get download``), unpacks it (``dpkg-deb -x``), checks every
file against its sha256 and writes, under ``DIR`` (default ``cache_dir("eval-data")``)::

    photos/<split>/images/<package>/<name>.jpg   photos, at most 1024 px a side, JPEG
    photos/<split>/queries.jsonl                 the split's queries (eval-images format)
    photos/<split>/neardup/manifest.jsonl        edited copies (vertex_mm.evaluation.neardup)
    pages/<split>/manifest.jsonl, queries.jsonl, qrels/<split>.tsv, pdfs/<stem>.pdf

Building needs the network to the package registry; evaluating needs only the built folder.
See ``data/evalsets/README.md`` for sources, licences, how the queries were written and sizes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._jsonl import json_objects
from .._paths import cache_dir, write_cache_file
from ..errors import VertexMMError
from .licences import LICENSE_ALLOW_LIST, license_allowed
from .qrels import read_qrels, write_qrels

__all__ = [
    "LICENSE_ALLOW_LIST", "SPLITS", "ChecksumMismatchError", "EvalDataError", "PackageFetchError", "PageDocument",
    "PhotoRecord", "build_pages", "build_photos", "data_dir", "default_out_dir", "license_allowed",
    "load_page_documents", "load_page_queries", "load_photo_queries", "load_photos", "read_member",
]

SPLITS = ("dev", "test")
MAX_SIDE = 1024  # the models look at 224-448 px; full-size wallpapers would only slow decoding
_JPEG_QUALITY = 90


class EvalDataError(VertexMMError):
    """Raised when an evaluation set cannot be built or its manifest is wrong."""


class PackageFetchError(EvalDataError):
    """Raised when a package named in a manifest cannot be downloaded or unpacked."""

    def __init__(self, message: str, *, package: str) -> None:
        super().__init__(message)
        self.package = package


class ChecksumMismatchError(EvalDataError):
    """Raised when a file in a package is not the file the manifest recorded."""


@dataclass(frozen=True)
class PhotoRecord:
    """One photo: where it lives in which package, its checksum, licence and split."""

    id: str  # path under photos/<split>/images/, e.g. "mate-backgrounds/ladybird.jpg"
    split: str
    package: str
    version: str
    path: str  # inside the unpacked package; "<file.rcc>!<member>" for a Qt resource member
    sha256: str
    license: str
    author: str
    url: str = ""


@dataclass(frozen=True)
class PageDocument:
    """One PDF: its package, checksum, licence, kind, split, and the pages in the set."""

    stem: str
    split: str
    kind: str
    form: str  # "pdf" (text layer kept) or "scan" (read as a 200-dpi grayscale image)
    package: str
    version: str
    path: str
    sha256: str
    license: str
    author: str
    pages: tuple[int, ...]


def data_dir() -> Path:
    """The shipped manifests (``photos/``, ``pages/``, ``README.md``)."""
    return Path(__file__).resolve().parent / "data" / "evalsets"


def default_out_dir() -> Path:
    """Where ``vertex-mm eval-data build`` writes by default."""
    return cache_dir("eval-data")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _where, _n, row in json_objects(path, error=lambda message, _where: EvalDataError(message))]


def _make(cls: Callable[..., Any], row: dict[str, Any], where: str) -> Any:
    try:
        return cls(**row)
    except TypeError as exc:
        raise EvalDataError(f"{where}: {exc}") from exc


def load_photos(root: Path | None = None) -> list[PhotoRecord]:
    """The photo manifest, in file order."""
    path = (root or data_dir()) / "photos" / "photos.jsonl"
    keep = {"id", "split", "package", "version", "path", "sha256", "license", "author", "url"}
    return [_make(PhotoRecord, {k: v for k, v in row.items() if k in keep}, f"{path}:{i}")
            for i, row in enumerate(_jsonl(path), 1)]


def load_photo_queries(split: str, root: Path | None = None) -> list[dict[str, Any]]:
    """The text queries of one split: ``{"id", "text", "relevant": [photo ids], "several"?}``."""
    return _jsonl((root or data_dir()) / "photos" / f"queries-{_split_named(split)}.jsonl")


def load_page_documents(root: Path | None = None) -> list[PageDocument]:
    """The page-set documents, in file order."""
    path = (root or data_dir()) / "pages" / "documents.jsonl"
    docs = []
    for i, row in enumerate(_jsonl(path), 1):
        row = {k: v for k, v in row.items() if k != "bytes"}
        row["pages"] = tuple(row.get("pages", ()))
        docs.append(_make(PageDocument, row, f"{path}:{i}"))
    return docs


def load_page_queries(root: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, int]]]]:
    """The page queries (``{"_id", "text", "kind", "split"}``) and, per split, query id -> {corpus
    id: relevance grade}. The grades are kept (a list of ids was written back as grade 1 each,
    which would have turned graded judgements binary)."""
    base = (root or data_dir()) / "pages"
    qrels = {split: read_qrels(base / "qrels" / f"{split}.tsv") for split in SPLITS}
    return _jsonl(base / "queries.jsonl"), qrels


def _split_named(split: str) -> str:
    if split not in SPLITS:
        raise EvalDataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    return split


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- fetching packages ------------------------------------------------------------------------

def install_hint(package: str, version: str) -> str:
    return f"apt-get update && apt-get download {package}={version}"


def _fetch_deb(package: str, version: str, workdir: Path, debs_dir: Path | None) -> Path:
    """The .deb of ``package``: from ``debs_dir`` when it holds one, else ``apt-get download``."""
    for folder in filter(None, (debs_dir, workdir)):
        found = sorted(folder.glob(f"{package}_*.deb"))
        if found:
            return found[-1]
    try:
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=workdir, check=True,
                       capture_output=True, text=True, timeout=1800)
    except FileNotFoundError as exc:
        raise PackageFetchError(f"cannot fetch Debian package {package} {version}: apt-get is not installed "
                                f"(on a Debian machine: {install_hint(package, version)}, then pass "
                                "--debs FOLDER)", package=package) from exc
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = (getattr(exc, "stderr", "") or "").strip().splitlines()[-1:] or [str(exc)]
        raise PackageFetchError(f"cannot fetch Debian package {package} {version} ({detail[0]}); "
                                f"try: {install_hint(package, version)}", package=package) from exc
    found = sorted(workdir.glob(f"{package}_*.deb"))
    if not found:
        raise PackageFetchError(f"apt-get download {package}={version} left no .deb in {workdir}", package=package)
    return found[-1]


def _unpack(deb: Path, dest: Path, package: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True, capture_output=True, text=True,
                       timeout=1800)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = (getattr(exc, "stderr", "") or str(exc)).strip()
        raise PackageFetchError(f"cannot unpack {deb} of package {package} with dpkg-deb -x ({detail})",
                                package=package) from exc
    return dest


class _Packages:
    """Downloads and unpacks each package once per build; reads files out of them."""

    def __init__(self, workdir: Path, debs_dir: Path | None, log: Callable[[str], None]) -> None:
        self.workdir, self.debs_dir, self.log = workdir, debs_dir, log
        self._roots: dict[str, Path] = {}
        self._rcc: dict[Path, dict[str, bytes]] = {}

    def root(self, package: str, version: str) -> Path:
        if package not in self._roots:
            self.log(f"fetching {package} {version}")
            deb = _fetch_deb(package, version, self.workdir, self.debs_dir)
            self._roots[package] = _unpack(deb, self.workdir / "unpacked" / package, package)
        return self._roots[package]

    def read(self, package: str, version: str, path: str, sha256: str) -> bytes:
        data = read_member(self.root(package, version), path, self._rcc)
        if sha256_of(data) != sha256:
            raise ChecksumMismatchError(f"{package} {version}: {path} has sha256 {sha256_of(data)}, the manifest "
                                        f"says {sha256}; the package changed: install version {version} "
                                        f"({install_hint(package, version)})")
        return data


def read_member(root: Path, path: str, rcc_cache: dict[Path, dict[str, bytes]] | None = None) -> bytes:
    """A file of an unpacked package; ``a.rcc!inner/path`` reads a member of a Qt resource file."""
    from ._rcc import RccError, read_rcc

    outer, _, inner = path.partition("!")
    file = root / outer
    if not file.is_file():
        raise EvalDataError(f"{file}: not in the unpacked package (manifest path {path!r})")
    if not inner:
        return file.read_bytes()
    cache = rcc_cache if rcc_cache is not None else {}
    if file not in cache:  # a GCompris .rcc holds a whole activity: parse it once per build
        try:
            cache[file] = read_rcc(file)
        except RccError as exc:
            raise EvalDataError(str(exc)) from exc
    try:
        return cache[file][inner.lstrip("/")]
    except KeyError:
        raise EvalDataError(f"{file}: has no member {inner!r}") from None


# --- building ---------------------------------------------------------------------------------

def _save_photo(data: bytes, dest: Path) -> None:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        im: Image.Image = ImageOps.exif_transpose(opened)
        if im.mode in ("RGBA", "LA", "P"):
            # Cut-out stamps have transparent backgrounds: put them on white, as a product photo.
            rgba = im.convert("RGBA")
            im = Image.new("RGB", rgba.size, "white")
            im.paste(rgba, mask=rgba.getchannel("A"))
        im = im.convert("RGB")
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        im.save(dest, "JPEG", quality=_JPEG_QUALITY)


def _replace_folder(new: Path, dest: Path) -> None:
    """Put the complete folder ``new`` at ``dest``, removing what was there. The old folder is
    renamed aside first and put back if the second rename fails."""
    if not dest.exists():
        os.replace(new, dest)
        return
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(dest, old)
    try:
        os.replace(new, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_text(path: Path, text: str) -> None:
    write_cache_file(path, lambda f: f.write(text.encode("utf-8")))


def _merge_folder(new: Path, dest: Path) -> None:
    """Move every file of ``new`` to the same place under ``dest`` (replacing it), then drop ``new``."""
    for file in sorted(p for p in new.rglob("*") if p.is_file()):
        target = dest / file.relative_to(new)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)
    shutil.rmtree(new, ignore_errors=True)


def build_photos(out: Path | None = None, *, splits: Iterable[str] = SPLITS, debs_dir: Path | None = None,
                 neardup: bool = True, packages: Iterable[str] | None = None,
                 log: Callable[[str], None] = lambda s: None) -> Path:
    """Rebuild the photo set under ``out/photos`` (format in the module docstring); returns that folder.

    ``packages`` limits the build to the photos of those packages (a partial set, for tests):
    their files are added to, or replace theirs in, an earlier build. A whole rebuild replaces
    ``images/`` and ``neardup/``, so a photo the manifest dropped, or moved to the other split,
    does not stay. Either way the photos are written into ``images.new/`` (and the
    near-duplicates into ``neardup.new/``) beside the build and put in place only once every
    photo has passed its checksum: a build that fails (no network, a changed package) leaves
    the previous build as it was, since it can only be rebuilt with the network.
    """
    from .neardup import make_near_duplicates

    base = Path(out or default_out_dir()) / "photos"
    wanted = [_split_named(s) for s in splits]
    only = set(packages) if packages is not None else None
    records = [r for r in load_photos() if r.split in wanted and (only is None or r.package in only)]
    staged = {split: base / split / "images.new" for split in wanted}
    staged_nd = {split: base / split / "neardup.new" for split in wanted}
    try:
        for folder in [*staged.values(), *staged_nd.values()]:
            shutil.rmtree(folder, ignore_errors=True)  # left by a build that was killed
            folder.mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="vertex-mm-evaldata-") as tmp:
            fetched = _Packages(Path(tmp), debs_dir, log)
            for r in sorted(records, key=lambda r: r.package):
                _save_photo(fetched.read(r.package, r.version, r.path, r.sha256), staged[r.split] / r.id)
        for split in wanted:
            folder = base / split
            images = folder / "images"
            if only is not None:  # a partial build: the near-duplicates cover every photo built so far
                _merge_folder(staged[split], images)
            source = staged[split] if only is None else images
            if neardup:
                make_near_duplicates(sorted(source.rglob("*.jpg")), staged_nd[split], root=source)
            if only is None:
                _replace_folder(staged[split], images)
            if neardup:
                _replace_folder(staged_nd[split], folder / "neardup")
            lines = [json.dumps(q, ensure_ascii=False) + "\n" for q in load_photo_queries(split)]
            _write_text(folder / "queries.jsonl", "".join(lines))
            log(f"photos/{split}: {sum(r.split == split for r in records)} photos, {len(lines)} queries")
    finally:
        for folder in [*staged.values(), *staged_nd.values()]:
            shutil.rmtree(folder, ignore_errors=True)
    return base


def build_pages(out: Path | None = None, *, splits: Iterable[str] = SPLITS, debs_dir: Path | None = None,
                log: Callable[[str], None] = lambda s: None) -> Path:
    """Rebuild the page set under ``out/pages/<split>`` as data sets ``vertex-mm pages eval`` reads."""
    base = Path(out or default_out_dir()) / "pages"
    wanted = [_split_named(s) for s in splits]
    docs = [d for d in load_page_documents() if d.split in wanted]
    queries, qrels = load_page_queries()
    with tempfile.TemporaryDirectory(prefix="vertex-mm-evaldata-") as tmp:
        packages = _Packages(Path(tmp), debs_dir, log)
        for d in sorted(docs, key=lambda d: d.package):
            dest = base / d.split / "pdfs" / f"{d.stem}.pdf"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(packages.read(d.package, d.version, d.path, d.sha256))
    for split in wanted:
        folder = base / split
        rows = [{"corpus-id": f"{d.stem}#{p}", "pdf": f"pdfs/{d.stem}.pdf", "page": p, "form": d.form}
                for d in docs if d.split == split for p in d.pages]
        (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        mine = [{k: v for k, v in q.items() if k != "split"} for q in queries if q["split"] == split]
        (folder / "queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in mine),
                                              encoding="utf-8")
        write_qrels(folder / "qrels" / f"{split}.tsv", qrels.get(split, {}))
        log(f"pages/{split}: {len(rows)} pages of {sum(d.split == split for d in docs)} documents, {len(mine)} queries")
    return base
