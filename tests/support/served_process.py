"""A ``python -m vertex_mm`` server run as a user runs it, for the tests that need a real process."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def repo_env() -> dict[str, str]:
    """The environment with the repository root on the path: the test runs from a temp folder,
    as a user would, and the repo's packages are still found."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


@contextlib.contextmanager
def served(args: list[str], cwd: Path, *, timeout: float = 240) -> Iterator[str]:
    """Run ``python -m vertex_mm ARGS``, yield the URL of its ``listening on URL`` line, and stop
    it after. Its output is drained in a thread so a chatty server never blocks on a full pipe."""
    proc = subprocess.Popen([sys.executable, "-m", "vertex_mm", *args], cwd=cwd, env=repo_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for line in out:
            m = re.search(r"listening on (?:all interfaces; open )?(http://127\.0\.0\.1:\d+)", line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(timeout=timeout)
        if not found:
            raise AssertionError(f"`vertex-mm {args[0]}` did not report its address")
        yield found[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)  # the pipe is at its end once the process is gone
        out.close()
