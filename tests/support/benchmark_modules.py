"""Import a benchmark script (``benchmarks/NAME.py``) as a module, to test its ``main()``.

The scripts import their siblings (``_machine``, ``_options``...) as top-level modules, the way
they run as ``python benchmarks/NAME.py``; so benchmarks/ is on sys.path only while importing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def import_benchmark(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
