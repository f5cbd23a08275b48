"""An index built with multimodalembedding@001 (through the emulator), as a user's index is
before they migrate it."""

from __future__ import annotations

from pathlib import Path

from vertex_mm import get_embedder
from vertex_mm.index.build import find_images, index_images


def save_001_index(api_endpoint: str, photos: Path, out: Path, *, dimension: int = 512) -> Path:
    """Embed every photo under ``photos`` with @001 at ``api_endpoint`` into a flat index saved at ``out``."""
    vertex = get_embedder("vertex", api_endpoint=api_endpoint, retry="none")
    try:
        index, skipped = index_images(vertex, find_images(photos), root=photos, dimension=dimension)
    finally:
        vertex.close()
    assert not skipped, skipped
    index.save(out)
    return out
