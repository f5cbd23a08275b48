"""Fixtures for the Beam tests: real broken images on disk, a fast retry policy, emulators.

Tests that run pipelines start with ``pytest.importorskip("apache_beam", ...)``: in an
interpreter without Beam they skip with the reason, and ``test_beam_venv.py`` runs them in a
cached venv that has ``apache-beam[gcp]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from factories import decompression_bomb_png, image_bytes, truncated

# The venv builder is a plain module beside this file (test folders have no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

@pytest.fixture
def photo_paths(tmp_path: Path) -> list[Path]:
    """Six real, distinct JPEG files."""
    out = []
    for i in range(6):
        path = tmp_path / f"photo_{i}.jpg"
        path.write_bytes(image_bytes("JPEG", size=(64 + 8 * i, 48), color=(40 * i, 200 - 30 * i, 90)))
        out.append(path)
    return out


@pytest.fixture
def corrupt_jpeg(tmp_path: Path) -> Path:
    """A real JPEG cut off after 40 % of its bytes: the header sniffs as JPEG, decoding fails."""
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(truncated(image_bytes("JPEG", size=(256, 256)), 0.4))
    return path


@pytest.fixture
def oversize_jpeg(tmp_path: Path) -> Path:
    """A real JPEG padded past the 20 MB request limit for images (padding after the EOI marker)."""
    path = tmp_path / "oversize.jpg"
    with open(path, "wb") as f:
        f.write(image_bytes("JPEG"))
        f.truncate(20 * 1024 * 1024 + 1)
    return path


@pytest.fixture
def bomb_png() -> bytes:
    """A tiny PNG whose header claims 900 million pixels (a decompression bomb)."""
    return decompression_bomb_png()


@pytest.fixture
def fast_retry():
    """The default retry policy with millisecond waits, so fault tests take seconds."""
    from vertex_mm.batch import RetryPolicy

    return RetryPolicy(name="fast", max_attempts=12, initial_backoff=0.005, max_backoff=0.05, jitter=0.005,
                       give_up_after=60.0)
