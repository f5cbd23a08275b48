"""Fixtures for the batch engine and job tests; the doubles live in ``batch_doubles``."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent):  # batch_doubles, and the shared factories
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from batch_doubles import FakeClock  # noqa: E402
from factories import image_bytes  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def image_folder(tmp_path: pathlib.Path) -> Callable[[int], pathlib.Path]:
    """A folder of ``n`` distinct real JPEGs in two sub-folders, plus files that are not images."""

    def make(n: int, name: str = "images") -> pathlib.Path:
        root = tmp_path / name
        for i in range(n):
            sub = root / ("a" if i % 2 == 0 else "b")
            sub.mkdir(parents=True, exist_ok=True)
            color = (i * 37 % 256, i * 91 % 256, (i * 13 + 50) % 256)
            (sub / f"img_{i:04d}.jpg").write_bytes(image_bytes("JPEG", size=(32 + i % 7, 24), color=color))
        (root / "notes.txt").write_text("not an image")
        (root / ".hidden.jpg").write_bytes(b"ignored")
        return root

    return make
