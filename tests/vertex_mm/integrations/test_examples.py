"""The two framework examples (the README's snippets) run offline and find the photos."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run(name: str) -> str:
    done = subprocess.run([sys.executable, "-W", "error", str(EXAMPLES / name)], capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_langchain_example_finds_each_photo_among_photos_and_notes():
    out = _run("langchain_search.py")
    assert re.search(r"^RESULT documents=19 queries=3 found=3 dimension=3072$", out, re.M), out
    assert "'a cat'" in out and "image: cat.jpg" in out


@pytest.mark.slow
def test_llamaindex_example_finds_each_photo_in_a_multimodal_index():
    out = _run("llamaindex_search.py")
    assert re.search(r"^RESULT images=17 queries=3 found=3 model=\S+$", out, re.M), out
