"""Index a folder of PDFs, answer queries, write an HTML page of the hits with thumbnails.

    python examples/colpali_pdf_search.py tests/fixtures/pdfs/corpus \
        "hexagon sticker logo" "scatter plot binned into hexagons" --out hits.html

Runs offline. The retriever is a spec (the same as ``vertex-mm pages --embedder``), and the
output says which one answered:

* ``ocr-fused`` (default): the OCR-assisted retriever. It reads the PDF text layer (tesseract
  for scanned pages), and fuses BM25, MiniLM passages and a chart/table/reference-list layout
  signal (CNN figure regions are opt-in). It is *not* ColPali: no ColPali weights reach this
  machine.
* ``--retriever colqwen2:/models/colqwen2-v1.0-hf`` (or ``colpali:FOLDER``, ``--colpali FOLDER``):
  a real ColPali, ColQwen2 or ColModernVBert checkpoint from a local folder, run on
  transformers' own classes: OCR-free late interaction over page images. Get one on a machine
  with network with ``huggingface-cli download vidore/colqwen2-v1.0-hf --local-dir DIR``.
* ``--retriever regions`` (alias ``local``): the offline CNN-region multi-vector model alone
  (sees figures and photos, does not read text).

``--index DIR`` keeps the index there (``DIR/index``), so a second run searches it again.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from pathlib import Path

from vertex_mm.index import index_kind
from vertex_mm.pages import PageHit, PageRef, expand_sources, iter_page_images
from vertex_mm.registry import get_page_retriever, load_page_retriever, parse_page_retriever_spec


def thumbnail_data_uri(hit: PageHit, width: int = 220) -> str:
    """A small PNG of the hit's page, rendered from its source file, as a data: URI."""
    image = next(iter_page_images([PageRef(Path(hit.source), hit.page_number)], dpi=48)).image
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
            parts.append(f"<figure><img src='{thumbnail_data_uri(hit)}' alt='{html.escape(hit.page_id)}'>"
                         f"<figcaption>{rank}. {html.escape(hit.doc_id)} p.{hit.page_number}<br>"
                         f"score {hit.score:.3f}</figcaption></figure>")
        parts.append("</div>")
    path.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pdf_folder")
    ap.add_argument("queries", nargs="+")
    ap.add_argument("--retriever", default="ocr-fused", metavar="SPEC",
                    help="ocr-fused (default), regions, colpali:FOLDER, colqwen2:FOLDER or colmodernvbert:FOLDER")
    ap.add_argument("--colpali", metavar="FOLDER",
                    help="local ColPali-family checkpoint (= --retriever colpali:FOLDER)")
    ap.add_argument("--index", help="keep the index in DIR/index (default: in memory)")
    ap.add_argument("--dpi", type=float, default=96, help="page rendering for late interaction")
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--out", default="page_hits.html")
    args = ap.parse_args(argv)

    spec = parse_page_retriever_spec(f"colpali:{args.colpali}" if args.colpali else args.retriever)
    options = {"dpi": args.dpi} if spec.late_interaction else {}
    root = Path(args.index) / "index" if args.index else None
    if root is not None and index_kind(root) is not None:
        retriever = load_page_retriever(root, spec, **options)
        print(f"searching the index in {root} ({len(retriever.page_ids)} pages)")
    else:
        retriever = get_page_retriever(spec, **options)
        stats = retriever.index(expand_sources([args.pdf_folder]), save_to=root)
        print(f"indexed {stats.pages} pages of {len(stats.documents)} documents at {stats.pages_per_second:.2f} pages/s"
              + (f" ({stats.reading()})" if not spec.late_interaction else "") + (f" into {root}" if root else ""))

    results = dict(zip(args.queries, retriever.search(args.queries, k=args.k)))
    out = Path(args.out)
    print(f"answered by: {retriever.name} ({retriever.description})")
    for query, q_hits in results.items():
        print(query)
        for rank, h in enumerate(q_hits, 1):
            print(f"  {rank}. {h.doc_id} p.{h.page_number}  score {h.score:.3f}")
    write_html(out, results)
    print(f"wrote {out}")
    n_hits = sum(len(h) for h in results.values())
    print(f"RESULT retriever={retriever.name} queries={len(results)} hits={n_hits} html={out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
