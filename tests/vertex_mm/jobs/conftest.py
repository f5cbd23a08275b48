"""Fixtures for the batch prediction job tests: a gemini embedder pointed at the emulator that
reads Cloud Storage (``gcs_emulator``, in ../conftest.py), and a folder of mixed media."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import image_bytes, mp3_bytes, mp4_bytes, pdf_bytes, wav_bytes

from vertex_mm.emulator import EmulatorServer


@pytest.fixture
def gemini(gcs_emulator: EmulatorServer) -> Iterator[Any]:
    from vertex_mm import get_embedder

    emb = get_embedder("gemini", base_url=gcs_emulator.url)
    yield emb
    emb.close()


@pytest.fixture
def media_folder(tmp_path: pathlib.Path) -> Callable[..., pathlib.Path]:
    """A folder of good media (2 images, a 1-page PDF, WAV, MP3, MP4) and, with ``bad=True``, a
    corrupt PDF and a 7-page PDF."""

    def make(*, bad: bool = False, images: int = 2) -> pathlib.Path:
        root = tmp_path / "media"
        (root / "pics").mkdir(parents=True, exist_ok=True)
        for i in range(images):
            (root / "pics" / f"img_{i:03d}.jpg").write_bytes(image_bytes("JPEG", color=(i * 40 % 256, 90, 30)))
        (root / "doc.pdf").write_bytes(pdf_bytes(1))
        (root / "talk.wav").write_bytes(wav_bytes(2.0))
        (root / "song.mp3").write_bytes(mp3_bytes(1.0))
        (root / "clip.mp4").write_bytes(mp4_bytes(seconds=2.0, fps=2, size=(32, 32)))
        (root / "readme.txt").write_text("not media, and not picked from a folder")
        if bad:
            (root / "corrupt.pdf").write_bytes(b"%PDF-1.7 this is not a PDF")
            (root / "seven.pdf").write_bytes(pdf_bytes(7))
        return root

    return make
