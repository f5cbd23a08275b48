"""Build (once) and reuse a virtualenv with ``apache-beam[gcp]`` and vertex-mm, for the Beam tests,
the Beam example and the Beam benchmark.

Why a venv of its own: installing Apache Beam into the project's main venv would downgrade
pillow, protobuf and pyarrow there. And ``apache-beam[gcp]==2.77.0`` caps
google-cloud-aiplatform below 2 (pip resolves 1.165.1), so this venv is also where the Vertex
client is tested against aiplatform 1.x; the main venv tests it against 2.x.

The venv lives in ``~/.cache/vertex-mm/venvs/beam-<key>`` (``VERTEX_MM_VENV_CACHE`` moves the
cache), keyed by the Python version, the requirements below and the dependencies declared in
pyproject.toml, so a change to any of them builds a new one. vertex-mm itself is installed
editable and reinstalled (without dependencies, in seconds) on every use, so the venv always
runs the checkout it is used from.

    python tests/vertex_mm/beam/vmm_beam_venv.py          # builds if needed, prints the venv's python
    $(python tests/vertex_mm/beam/vmm_beam_venv.py) examples/beam_embed_pipeline.py
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import tomllib

__all__ = ["BEAM_REQUIREMENTS", "REPO_EXTRAS", "beam_venv_python", "venv_dir"]

#: What the venv installs besides vertex-mm: the Beam that Dataflow users install, and pytest.
BEAM_REQUIREMENTS = (
    "apache-beam[gcp]==2.77.0",
    "pytest>=8",
    "pytest-mock>=3.12",
    "pytest-timeout>=2.3",
)
#: vertex-mm's extras in the venv: the local backend and the emulator (offline tests), parquet.
REPO_EXTRAS = "local,emulator,parquet"

REPO = Path(__file__).resolve().parents[3]


def _declared_dependencies(repo: Path) -> str:
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    return repr((project.get("dependencies"), project.get("optional-dependencies")))


def venv_dir(repo: Path = REPO) -> Path:
    """Where the venv for this requirement set lives."""
    material = "\n".join((sys.version, *BEAM_REQUIREMENTS, REPO_EXTRAS, _declared_dependencies(repo)))
    key = hashlib.sha256(material.encode()).hexdigest()[:16]
    root = Path(os.environ.get("VERTEX_MM_VENV_CACHE") or Path.home() / ".cache" / "vertex-mm" / "venvs")
    return root / f"beam-{key}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (two pytest runs, or pytest and the example)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: list[str], deadline: float, log: Path) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"no time left to run {' '.join(cmd)}")
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=left)
    if done.returncode:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({done.returncode}); log {log}:\n{tail}")


#: Older venvs kept beside a newly built one (each is about 2.5 GB): the most recently used.
KEEP_OTHER_VENVS = 2


def _prune_siblings(venv: Path, keep: int = KEEP_OTHER_VENVS) -> list[Path]:
    """Remove the beam venvs of other requirement sets but the ``keep`` most recently used
    (by their log, appended on every use), skipping any in use (its lock held). A venv is
    keyed by the declared dependencies, so every dependency change leaves one behind."""
    others = [p for p in venv.parent.glob("beam-*") if p.is_dir() and p != venv]
    others.sort(key=lambda p: p.with_suffix(".log").stat().st_mtime if p.with_suffix(".log").exists() else 0.0,
                reverse=True)
    removed = []
    for old in others[keep:]:
        with open(old.with_suffix(".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another run is using or building it
            try:
                shutil.rmtree(old, ignore_errors=True)
                old.with_suffix(".log").unlink(missing_ok=True)
                removed.append(old)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        old.with_suffix(".lock").unlink(missing_ok=True)
    return removed


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def beam_venv_python(repo: Path = REPO, *, timeout: float = 420.0) -> Path:
    """The python of a venv with apache-beam[gcp] and this checkout of vertex-mm installed.

    Builds it if needed (about 2-3 minutes: packages come from the configured indexes), within
    ``timeout`` seconds, or raises ``TimeoutError``.
    """
    deadline = time.monotonic() + timeout
    venv = venv_dir(repo)
    pip_env_flags = ["--disable-pip-version-check", "--no-input"]
    with _locked(venv.with_suffix(".lock")):
        log = venv.with_suffix(".log")
        if not (venv / "ok").exists():
            # No marker: never built, or a build was cut off. Start over in place (a venv's
            # scripts hold absolute paths, so it is built where it will live).
            shutil.rmtree(venv, ignore_errors=True)
            log.write_text("")
            _run([sys.executable, "-m", "venv", str(venv)], deadline, log)
            _run([str(_python(venv)), "-m", "pip", "install", *pip_env_flags, *BEAM_REQUIREMENTS,
                  "-e", f"{repo}[{REPO_EXTRAS}]"], deadline, log)
            (venv / "ok").write_text("built\n")
            _prune_siblings(venv)
        # Always point the editable install at this checkout (it may have moved, or gained a package).
        _run([str(_python(venv)), "-m", "pip", "install", *pip_env_flags, "--no-deps", "-e", str(repo)], deadline, log)
    return _python(venv)


if __name__ == "__main__":
    print(beam_venv_python())
