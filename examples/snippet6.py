"""Snippet 6: joint image and text embeddings with the Vertex AI API, so images can be searched by text.

This is the classic Vertex sample, ``EmbeddingPredictionClient``: text and image bytes go in, an
``EmbeddingResponse`` with ``text_embedding`` and ``image_embedding`` comes out. Here it is
written on vertex-mm's client (the generated ``PredictionServiceClient`` underneath, with typed
errors), and it ends with a tiny text-to-image ranking over a few photos.

    python examples/snippet6.py --project my-proj            # real Vertex AI, Application Default Credentials
    python examples/snippet6.py --emulator                   # offline: starts vertex-mm's emulator in-process
    python examples/snippet6.py --api-endpoint http://127.0.0.1:8080   # a running `vertex-mm emulator`
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from vertex_mm import Image, get_embedder
from vertex_mm.vertex import VertexEmbedder


class EmbeddingResponse(NamedTuple):
    text_embedding: Sequence[float] | None
    image_embedding: Sequence[float] | None


class EmbeddingPredictionClient:
    """The classic sample's client: one call, text and/or image bytes, both vectors back."""

    def __init__(self, project: str | None, location: str = "us-central1", api_endpoint: str | None = None):
        self.embedder: VertexEmbedder = get_embedder(  # type: ignore[assignment]
            "vertex", project=project, location=location, api_endpoint=api_endpoint
        )

    def get_embedding(self, text: str | None = None, image_bytes: bytes | None = None,
                      dimension: int = 1408) -> EmbeddingResponse:
        if not text and not image_bytes:
            raise ValueError("At least one of text or image_bytes must be specified.")
        r = self.embedder.get_embeddings(
            image=Image(image_bytes=image_bytes) if image_bytes else None,
            contextual_text=text,
            dimension=dimension,
        )
        return EmbeddingResponse(text_embedding=r.text_embedding, image_embedding=r.image_embedding)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    a_, b_ = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a_ @ b_ / (np.linalg.norm(a_) * np.linalg.norm(b_)))


@contextlib.contextmanager
def endpoint(args: argparse.Namespace) -> Iterator[str | None]:
    if not args.emulator:
        yield args.api_endpoint
        return
    from vertex_mm.emulator import run_emulator

    with run_emulator(port=0) as emu:
        print(f"emulator: {emu.url}")
        yield emu.url


def default_photos() -> list[pathlib.Path]:
    from vertex_mm.sample_data import sample_photos_dir

    return sorted(sample_photos_dir().glob("*.jpg"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project", help="Google Cloud project (default: GOOGLE_CLOUD_PROJECT / ADC)")
    p.add_argument("--location", default="us-central1")
    p.add_argument("--emulator", action="store_true", help="start vertex-mm's emulator in-process and use it")
    p.add_argument("--api-endpoint", help="e.g. http://127.0.0.1:8080 for a running `vertex-mm emulator`")
    p.add_argument("--query", default="a photo of a cat")
    p.add_argument("--image", type=pathlib.Path, help="the photo sent with the text (default: the sample cat.jpg)")
    p.add_argument("--images", nargs="*", type=pathlib.Path, help="photos to rank (default: the shipped samples)")
    p.add_argument("--dimension", type=int, default=1408, choices=(128, 256, 512, 1408))
    args = p.parse_args(argv)

    photos = args.images or default_photos()
    if not photos:
        p.error("no photos to rank")
    with endpoint(args) as api_endpoint:
        client = EmbeddingPredictionClient(args.project, args.location, api_endpoint)

        # The sample itself: text and image bytes in one request, both vectors out.
        first = args.image or next((p for p in photos if p.name == "cat.jpg"), photos[0])
        both = client.get_embedding(text=args.query, image_bytes=first.read_bytes(), dimension=args.dimension)
        assert both.text_embedding is not None and both.image_embedding is not None
        print(f"text_embedding: {len(both.text_embedding)} floats; image_embedding: {len(both.image_embedding)} floats")
        print(f"cosine({args.query!r}, {first.name}) = {cosine(both.text_embedding, both.image_embedding):.4f}")

        # Search images by text: embed each photo, rank by cosine with the text vector.
        images = client.embedder.embed_images(photos, dimension=args.dimension)
        query = np.asarray(both.text_embedding, dtype=np.float32)
        scores = images @ query / (np.linalg.norm(images, axis=1) * np.linalg.norm(query))
        order = np.argsort(-scores)
        print(f"\nranking for {args.query!r}:")
        for rank, i in enumerate(order[:5], 1):
            print(f"  {rank}. {photos[i].name:<28} {scores[i]:+.4f}")
        client.embedder.close()
    print(
        f"RESULT text_dim={len(both.text_embedding)} image_dim={len(both.image_embedding)} "
        f"cosine={cosine(both.text_embedding, both.image_embedding):.4f} top1={photos[order[0]].name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
