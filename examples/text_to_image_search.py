"""Search photos by text (or by another photo), offline, with one command.

    python examples/text_to_image_search.py

indexes the sample photos shipped with vertex-mm using the offline local model, answers the
sample queries, prints the top hits with their scores and writes ``search_results.html`` (a
self-contained page of thumbnails and scores). Your own photos and queries:

    python examples/text_to_image_search.py --photos ~/Pictures --query "a dog on a beach" --image me.jpg -k 5

The same code runs on Vertex AI, or on the local emulator of its API:

    python examples/text_to_image_search.py --backend vertex --project my-proj --dimension 512
    python examples/text_to_image_search.py --backend vertex --api-endpoint http://127.0.0.1:8080

The local model knows the 1000 ImageNet concepts (cats, espresso, motorcycles, palaces, ...)
and nothing else; Vertex AI's multimodalembedding@001 understands far more.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vertex_mm import get_embedder
from vertex_mm.index.build import find_images, index_images, search_index
from vertex_mm.sample_data import sample_photos_dir, sample_queries
from vertex_mm.serve.render import QuerySection, results_page, thumbnail_data_uri


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=Path, default=sample_photos_dir(), help="folder of photos (default: the samples)")
    p.add_argument("--query", action="append", default=[], help="text query (repeatable; default: the sample queries)")
    p.add_argument("--image", action="append", default=[], type=Path, help="image query (repeatable)")
    p.add_argument("-k", type=int, default=5, help="hits per query (default 5)")
    p.add_argument("--backend", default="local", help="local (default, offline) or vertex")
    p.add_argument("--project", help="Google Cloud project (vertex)")
    p.add_argument("--location", help="region (vertex)")
    p.add_argument("--api-endpoint", help="endpoint, e.g. the emulator at http://127.0.0.1:8080")
    p.add_argument("--dimension", type=int, help="embedding length (default: the backend's)")
    p.add_argument("--save-index", type=Path, help="also save the index here (open it with `vertex-mm search`)")
    p.add_argument("--out", type=Path, default=Path("search_results.html"), help="results page to write")
    p.add_argument("--check", action="store_true", help="exit 1 unless every sample query finds its photo first")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    options = {k: v for k, v in (("project", args.project), ("location", args.location),
                                 ("api_endpoint", args.api_endpoint)) if v}
    embedder = get_embedder(args.backend, **options)

    # 1. Index the photos: embed each one, keep its path as metadata.
    started = time.perf_counter()
    photos = find_images(args.photos)
    index, skipped = index_images(embedder, photos, root=args.photos, dimension=args.dimension)
    print(f"indexed {len(index)} photos from {args.photos} in {time.perf_counter() - started:.1f}s "
          f"(space {index.space.id})")
    for id_, why in skipped.items():
        print(f"  skipped {id_}: {why}", file=sys.stderr)
    if args.save_index:
        index.save(args.save_index)
        print(f"saved the index to {args.save_index}")

    # 2. The queries: yours, or the samples with the photo each should find first.
    if args.query or args.image:
        queries = [(q, None, None) for q in args.query] + [(None, img, None) for img in args.image]
    else:
        queries = [(q.text, q.image_path, q.expected) for q in sample_queries()]

    # 3. Search them all in one batched call; print the hits.
    results = search_index(index, embedder, [(text, image) for text, image, _ in queries], k=args.k)
    sections, misses = [], 0
    for (text, image, expected), hits in zip(queries, results):
        label = text if text is not None else f"[image] {image.name}"
        first = Path(hits[0].id).name if hits else None
        verdict = "" if expected is None else ("   ✓ expected first" if first == expected else f"   ✗ expected {expected}")
        misses += expected is not None and first != expected
        print(f"\n{label}{verdict}")
        for rank, hit in enumerate(hits, 1):
            print(f"  {rank}. {hit.score:.4f}  {hit.id}")
        sections.append(QuerySection(label, hits, thumbnail_data_uri(image) if image else None, expected))

    # 4. The results page: thumbnails and scores, one self-contained HTML file.
    page = results_page("vertex-mm text-to-image search", sections, lambda hit: thumbnail_data_uri(hit.metadata["path"]),
                        subtitle=f"{len(index)} photos · {index.space.id} · top {args.k} by cosine similarity")
    args.out.write_text(page, encoding="utf-8")
    print(f"\nwrote {args.out.resolve()}")
    embedder.close()
    checked = sum(expected is not None for _, _, expected in queries)
    print(f"RESULT photos={len(index)} queries={len(queries)} expected_first={checked - misses}/{checked} "
          f"space={index.space.id} html={args.out.name}")
    return 1 if args.check and misses else 0


if __name__ == "__main__":
    sys.exit(main())
