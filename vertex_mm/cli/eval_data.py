"""``vertex-mm eval-data``: rebuild the project's held-out photo and page evaluation sets.

    vertex-mm eval-data build photos            # photos/dev and photos/test under the cache dir
    vertex-mm eval-data build pages --out DIR   # pages/dev and pages/test under DIR
    vertex-mm eval-data build all --debs DEBS   # use .deb files already downloaded into DEBS
    vertex-mm eval-data info                    # sizes, sources and the evaluation commands

The manifests ship with vertex-mm; the files come from the Debian packages they name
(``apt-get download``, ``dpkg-deb -x``) and are checked against their sha256. Build at install
time; the evaluations then run offline:

    vertex-mm eval-images --split dev --data DIR [--ablations]   # images, queries and near-dups of DIR/photos/dev
    vertex-mm pages eval DIR/pages/dev --split dev

Tune on dev only; evaluate test once, at the end, and say how often test was looked at.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "rebuild the held-out photo and page evaluation sets (dev/test) from Debian packages"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("build", "info"), help="build the files, or print what the sets hold")
    p.add_argument("which", nargs="?", default="all", choices=("photos", "pages", "all"), help="which set (default all)")
    p.add_argument("--out", metavar="DIR", help="where to write (default: the vertex-mm cache dir, eval-data/)")
    p.add_argument("--split", choices=("dev", "test", "both"), default="both", help="build one split only")
    p.add_argument("--debs", metavar="DIR", help="take the .deb files from DIR instead of apt-get download")
    p.add_argument("--no-neardup", action="store_true", help="do not write the near-duplicate copies of the photos")


def run(args: argparse.Namespace) -> int:
    from ..evaluation import datasets as ds

    out = Path(args.out) if args.out else ds.default_out_dir()
    splits = ds.SPLITS if args.split == "both" else (args.split,)
    if args.action == "info":
        print(info(out))
        return 0
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    debs = Path(args.debs) if args.debs else None
    if debs is not None and not debs.is_dir():  # a mistyped folder quietly fell back to apt-get (network)
        from ._errors import UsageError

        raise UsageError(f"--debs {args.debs}: no such folder")
    if args.which in ("photos", "all"):
        ds.build_photos(out, splits=splits, debs_dir=debs, neardup=not args.no_neardup, log=log)
    if args.which in ("pages", "all"):
        ds.build_pages(out, splits=splits, debs_dir=debs, log=log)
    print(f"built under {out}\n\n{commands(out)}")
    return 0


def commands(out: Path) -> str:
    """The evaluation commands for a built folder."""
    from ..evaluation.datasets import default_out_dir

    data = "" if out.resolve() == default_out_dir().resolve() else f" --data {out}"
    lines = [f"vertex-mm eval-images --split dev{data} --ablations", f"vertex-mm eval-images --split test{data}"]
    lines += [f"vertex-mm pages eval {out / 'pages' / split} --split {split}" for split in ("dev", "test")]
    return "\n".join(lines)


def info(out: Path) -> str:
    from ..evaluation import datasets as ds

    photos = ds.load_photos()
    docs = ds.load_page_documents()
    queries, _ = ds.load_page_queries()
    lines = []
    for split in ds.SPLITS:
        mine = [r for r in photos if r.split == split]
        pkgs = Counter(r.package for r in mine)
        lines.append(f"photos/{split}: {len(mine)} photos, {len(ds.load_photo_queries(split))} queries; "
                     + ", ".join(f"{k} {v}" for k, v in sorted(pkgs.items())))
    for split in ds.SPLITS:
        mine_docs = [d for d in docs if d.split == split]
        lines.append(f"pages/{split}: {sum(len(d.pages) for d in mine_docs)} pages of {len(mine_docs)} documents, "
                     f"{sum(q['split'] == split for q in queries)} queries; " + ", ".join(d.stem for d in mine_docs))
    return "\n".join(lines) + f"\n\nbuild: vertex-mm eval-data build all --out {out}\n\n" + commands(out)
