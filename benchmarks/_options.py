"""Command-line options of the benchmarks: the plain numeric knobs, declared once per benchmark as
keywords (``pages=2000, plant_cos=0.5`` -> ``--pages``, ``--plant-cos``, typed by their default).
Options with help text, choices or flags are added with ``add_argument`` as usual.

Abbreviations are off (``allow_abbrev=False``): with them ``--n 100000`` was read as an
abbreviation of ``--no-single-thread`` and a misspelt option could silently pick another. A
one-letter knob gets both spellings (``-n`` and ``--n``), since both appear in docstrings.
"""

from __future__ import annotations

import argparse

__all__ = ["benchmark_parser"]


def benchmark_parser(doc: str | None, **defaults: int | float) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of ``doc``, with one ``--name`` per keyword."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0].strip(), allow_abbrev=False)
    for name, default in defaults.items():
        flags = [f"--{name.replace('_', '-')}"] if len(name) > 1 else [f"-{name}", f"--{name}"]
        parser.add_argument(*flags, type=type(default), default=default, help=f"(default {default})")
    return parser
