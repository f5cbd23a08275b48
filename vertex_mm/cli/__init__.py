"""The ``vertex-mm`` command line.

:data:`COMMANDS` lists every subcommand and the module that holds it. Each module exposes
``register(subparsers) -> None``, which adds an ``argparse`` parser whose ``func`` default runs
the command and returns an exit code. Commands raise on failure; :func:`main` turns the error
into one line and an exit code in one place (:mod:`._errors`). Command modules import heavy
things (torch, servers) inside their ``run`` only, so ``vertex-mm --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._errors import EXIT_ERROR, exit_code_for

__all__ = ["COMMANDS", "build_parser", "main"]

#: Subcommand name -> module of this package, in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "embed": "embed",
    "index": "index",
    "search": "search",
    "serve": "serve",
    "pages": "pages",
    "eval-images": "eval_images",
    "train-projection": "train_projection",
    "emulator": "emulator",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vertex-mm",
        description="Image and multimodal embeddings on Google Cloud, with an offline local backend.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"{__name__}.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        return exit_code_for(exc, args.command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
