"""colpali-engine's own ``score_multi_vector``, the reference ``bench_maxsim`` compares against.

Loaded from an installed colpali-engine, a wheel (``--colpali-wheel``), or the wheel fetched once
with ``pip download colpali-engine==REFERENCE_VERSION --no-deps`` into the vertex-mm cache (the
package itself cannot be installed beside the CPU torch: it pins a CUDA torchvision), without
importing the package's models. The fetch is pinned so that a fresh machine measures against
the same scorer as the figures it is compared with; the version actually loaded is returned with
the scorer, for the RESULT line. Of several cached wheels the newest *version* is taken
(0.3.18 over 0.3.9, which a string sort would pick).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tempfile
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vertex_mm._paths import cache_dir

__all__ = ["REFERENCE_VERSION", "fetch_command", "load_colpali_scorer", "newest_wheel", "wheel_version"]

#: The colpali-engine release the reference is fetched at (the one the README's figures used).
REFERENCE_VERSION = "0.3.18"

_WHEEL_NAME = re.compile(r"^colpali_engine-([^-]+)-")


def wheel_version(wheel: str | Path) -> str:
    """The version in a wheel's file name (``colpali_engine-0.3.18-py3-none-any.whl`` -> ``0.3.18``),
    or ``unknown``."""
    m = _WHEEL_NAME.match(Path(wheel).name)
    return m.group(1) if m else "unknown"


def _version_key(wheel: Path) -> tuple[tuple[int, ...], int, str]:
    """Release numbers compared as numbers; a final release above its pre-releases (``0.3.18`` >
    ``0.3.18rc1``); a name without a version below every versioned one. (``packaging`` would
    do this, but is not a dependency of the project.)"""
    m = re.match(r"(\d+(?:\.\d+)*)(.*)", wheel_version(wheel))
    if m is None:
        return (), 0, wheel.name
    return tuple(int(p) for p in m.group(1).split(".")), 0 if m.group(2) else 1, m.group(2)


def newest_wheel(folder: Path) -> Path | None:
    """The colpali-engine wheel of the highest version in ``folder`` (by version, not by name)."""
    found = list(folder.glob("colpali_engine-*.whl"))
    return max(found, key=_version_key) if found else None


def fetch_command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "download", f"colpali-engine=={REFERENCE_VERSION}", "--no-deps", "-q",
            "-d", str(folder)]


def _fetched_wheel() -> Path | None:
    """colpali-engine's wheel in the vertex-mm cache, fetched once from the package registry
    (an install step, like ``pip install``; nothing of it is installed)."""
    folder = cache_dir("bench", "colpali-engine", create=True)
    found = newest_wheel(folder)
    if found is None:
        print(f"# fetching the reference: {' '.join(fetch_command(folder))}", flush=True)
        subprocess.run(fetch_command(folder), check=False)
        found = newest_wheel(folder)
    return found


def load_colpali_scorer(wheel: str | None) -> tuple[Callable[..., Any] | None, str, str]:
    """(score_multi_vector, where it came from, its version) from colpali-engine's own files,
    without running its package ``__init__`` (which imports the models, torchvision and
    transformers' vision stack); ``(None, "none", "none")`` when there is none to load."""
    loaded = getattr(sys.modules.get("colpali_engine"), "_bench_reference", None)
    if loaded is not None:  # this process already loaded it from a wheel (its stand-in package has no spec)
        return loaded  # type: ignore[no-any-return]
    root: Path | None = None
    version = "none"
    source = "none"
    spec = importlib.util.find_spec("colpali_engine") if wheel is None else None
    if spec is not None and spec.submodule_search_locations:
        root = Path(list(spec.submodule_search_locations)[0]).parent
        source = f"installed colpali-engine at {root}"
        try:
            version = importlib.metadata.version("colpali-engine")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    else:
        path = Path(wheel) if wheel else _fetched_wheel()
        if path is not None and not path.is_file():
            print(f"# --colpali-wheel {path}: no such file", file=sys.stderr)
        elif path is not None:
            root = Path(tempfile.mkdtemp(prefix="colpali-wheel-"))
            with zipfile.ZipFile(path) as zf:
                zf.extractall(root)
            source = f"colpali-engine wheel {path.name}"
            version = wheel_version(path)
    if root is None:
        return None, "none", "none"
    for name in ("colpali_engine", "colpali_engine.utils"):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(root / name.replace(".", "/"))]
        sys.modules.setdefault(name, pkg)
    from colpali_engine.utils.processing_utils import BaseVisualRetrieverProcessor

    found = (BaseVisualRetrieverProcessor.score_multi_vector, source, version)
    if spec is None:
        sys.modules["colpali_engine"]._bench_reference = found  # type: ignore[attr-defined]
    return found
