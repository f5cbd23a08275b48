"""Index a folder of PDFs, answer queries by late interaction, write an HTML page of hits.

    python examples/colpali_pdf_search.py tests/fixtures/pdfs/corpus \
        "hexagon sticker logo" "scatter plot binned into hexagons" --out hits.html

Runs offline. Three retrievers, and the output says which one answered:

* ``--colpali /models/colqwen2-v1.0-merged``: a real ColPali-family checkpoint from a local
  folder, OCR-free late interaction over page images (the index is kept in ``--index``).
* default offline, ``ocr-fused``: the OCR-assisted retriever. It reads the PDF text layer
  (tesseract for scanned pages), and fuses BM25, MiniLM passages, CNN figure regions and a
  chart/table layout signal. It is *not* ColPali: no ColPali weights reach this machine.
* ``--retriever region``: the offline CNN-region multi-vector model alone (sees figures and
  photos, does not read text).
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
    ap.add_argument("--retriever", choices=("ocr-fused", "region"), default="ocr-fused",
                    help="offline retriever when --colpali is not given (default: ocr-fused)")
    ap.add_argument("--dpi", type=float, default=96)
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--out", default="page_hits.html")
    args = ap.parse_args(argv)

    if not args.colpali and args.retriever == "ocr-fused":
        results = search_ocr_fused(args.pdf_folder, args.queries, args.k)
        print_and_write(results, Path(args.out), "ocr-fused (OCR-assisted: text layer / tesseract + BM25, "
                        "MiniLM, CNN regions; not ColPali)")
        return 0
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
    name = f"ColPali checkpoint {args.colpali}" if args.colpali else "region (CNN regions, late interaction; reads no text)"
    print_and_write(dict(zip(args.queries, hits)), Path(args.out), name)
    return 0


def search_ocr_fused(folder: str, queries: list[str], k: int) -> dict[str, list[PageHit]]:
    from local_backend.pages_fused.retriever import OcrAssistedPageRetriever
    from local_backend.pages_fused.sources import expand_paths

    retriever = OcrAssistedPageRetriever()
    stats = retriever.index(expand_paths([folder]))
    print(f"indexed {stats.pages} pages ({stats.text_layer_pages} from the text layer, {stats.ocr_pages} by OCR) "
          f"at {stats.pages_per_second:.2f} pages/s")
    results = {}
    for q in queries:
        results[q] = []
        for hit in retriever.search(q, k=k):
            source, page_number = retriever.sources[hit.page_id]
            results[q].append(PageHit(Path(source).stem, page_number, hit.score, {"source": source}))
    return results


def print_and_write(results: dict[str, list[PageHit]], out: Path, retriever: str) -> None:
    print(f"answered by: {retriever}")
    for query, q_hits in results.items():
        print(query)
        for rank, h in enumerate(q_hits, 1):
            print(f"  {rank}. {h.doc_id} p.{h.page_number}  score {h.score:.3f}")
    write_html(out, results)
    print(f"wrote {out}")
    n_hits = sum(len(h) for h in results.values())
    print(f"RESULT retriever={retriever.split(' ')[0]} queries={len(results)} hits={n_hits} html={out.name}")


if __name__ == "__main__":
    sys.exit(main())
