"""Real sample photos shipped with vertex-mm, for the search example, the docs and tests.

>>> from vertex_mm.sample_data import sample_photos_dir, sample_queries
>>> sorted(p.name for p in sample_photos_dir().glob("*.jpg"))[:3]
['astronaut.jpg', 'blurred_clock.jpg', 'brick_wall.jpg']
>>> sample_queries()[0]
SampleQuery(text='a cat', image=None, expected='cat.jpg')

The photos come from scikit-image and scikit-learn (see ``SOURCES.md``); ``build_samples.py``
rebuilds them. ``queries.jsonl`` pairs text or image queries with the photo a good joint
image-text model should rank first. The offline local model knows only the 1000 ImageNet
concepts, so the queries name things it can see (a cat, a coffee cup, a motorcycle, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SampleQuery", "sample_photos", "sample_photos_dir", "sample_query_images_dir", "sample_queries"]

_HERE = Path(__file__).resolve().parent


def sample_photos_dir() -> Path:
    """The folder of shipped sample photos (JPEG, at most 640 px)."""
    return _HERE / "photos"


def sample_query_images_dir() -> Path:
    """Photos used as image queries; not in :func:`sample_photos_dir`."""
    return _HERE / "query_images"


def sample_photos() -> list[Path]:
    """The sample photos, sorted by name."""
    return sorted(sample_photos_dir().glob("*.jpg"))


@dataclass(frozen=True)
class SampleQuery:
    """A text or image query and the file name of the photo expected first."""

    text: str | None
    image: str | None
    expected: str

    @property
    def image_path(self) -> Path | None:
        return sample_query_images_dir() / self.image if self.image else None

    @property
    def label(self) -> str:
        return self.text if self.text is not None else f"[image] {self.image}"


def sample_queries() -> list[SampleQuery]:
    """The queries of ``queries.jsonl``, in file order."""
    out = []
    with open(_HERE / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out.append(SampleQuery(d.get("text"), d.get("image"), d["expected"]))
    return out
