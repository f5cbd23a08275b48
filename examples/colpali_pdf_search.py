"""Index a folder of PDFs, answer queries by late interaction, write an HTML page of hits.

    python examples/colpali_pdf_search.py tests/fixtures/pdfs/corpus \
        "hexagon sticker logo" "scatter plot binned into hexagons" --out hits.html

Runs offline. The default embedder is the local region model, which sees figures and does not
read text; pass ``--colpali /models/colqwen2-v1.0-merged`` to use a real ColPali-family
checkpoint from a local folder. The index is kept in ``--index`` (reused on the next run).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
import tempfile
from pathlib import Path

from vertex_mm.late_interaction import MultiVectorIndex, PageHit
from vertex_mm.pages import index_pages, iter_document_pages, iter_pdf_pages


def thumbnail_data_uri(hit: PageHit, width: int = 220) -> str:
    """A small PNG of the hit's page, rendered from its source PDF, as a data: URI."""
    source = hit.metadata.get("source", "")
    if source.lower().endswith(".pdf"):
        page = next(iter_pdf_pages(source, dpi=48, pages=[hit.page_number]))
        image = page.image
    else:
        from PIL import Image

        image = Image.open(source).convert("RGB")
    image.thumbnail((width, width * 2))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def write_html(path: Path, results: dict[str, list[PageHit]]) -> None:
    parts = ["<!doctype html><meta charset='utf-8'><title>vertex-mm page search</title>",
             "<style>body{font-family:sans-serif} .hits{display:flex;gap:12px;flex-wrap:wrap}"
             " figure{margin:0;border:1px solid #ccc;padding:6px} figcaption{font-size:12px}</style>"]
    for query, hits in results.items():
        parts.append(f"<h2>{html.escape(query)}</h2><div class='hits'>")
        for rank, hit in enumerate(hits, 1):
            parts.append(f"<figure><img src='{thumbnail_data_uri(hit)}' alt='{html.escape(hit.key)}'>"
                         f"<figcaption>{rank}. {html.escape(hit.doc_id)} p.{hit.page_number}<br>score {hit.score:.3f}</figcaption></figure>")
        parts.append("</div>")
    path.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pdf_folder")
    ap.add_argument("queries", nargs="+")
    ap.add_argument("--index", help="index directory (default: a temporary one)")
    ap.add_argument("--colpali", metavar="FOLDER", help="local ColPali/ColQwen2/ColSmol checkpoint")
    ap.add_argument("--dpi", type=float, default=96)
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--out", default="page_hits.html")
    args = ap.parse_args(argv)

    if args.colpali:
        from vertex_mm.pages.colpali_adapter import ColPaliEmbedder

        embedder = ColPaliEmbedder.from_pretrained(args.colpali)
    else:
        from local_backend.pages import RegionConSEEmbedder

        embedder = RegionConSEEmbedder()
    root = Path(args.index or tempfile.mkdtemp(prefix="pages-idx-")) / "index"
    if (root / "manifest.json").is_file():
        index = MultiVectorIndex.open(root)
    else:
        index = MultiVectorIndex.create(root, embedder.space)
    counts = index_pages(embedder, index, iter_document_pages([args.pdf_folder], dpi=args.dpi))
    print(f"indexed {sum(counts.values())} pages of {len(counts)} PDFs into {root}")

    hits = index.search(embedder.embed_queries(args.queries), k=args.k, space=embedder.space)
    results = dict(zip(args.queries, hits))
    for query, q_hits in results.items():
        print(query)
        for rank, h in enumerate(q_hits, 1):
            print(f"  {rank}. {h.doc_id} p.{h.page_number}  score {h.score:.3f}")
    write_html(Path(args.out), results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
