"""Fixtures of real small media for the core tests."""

from __future__ import annotations

import pytest
from factories import image_bytes


@pytest.fixture
def jpeg_bytes() -> bytes:
    return image_bytes("JPEG")


@pytest.fixture
def png_bytes() -> bytes:
    return image_bytes("PNG")
