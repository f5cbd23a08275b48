"""The ``vertex-mm`` command line.

:data:`COMMANDS` lists every subcommand and the module that holds it. Each module exposes
``HELP`` (one line for ``vertex-mm --help``; the module docstring is the command's own
``--help`` text), ``add_arguments(parser)`` and ``run(args) -> exit code`` (a command with
sub-actions sets ``func`` on each of them instead). Commands raise on failure; :func:`main`
turns the error into one line and an exit code in one place (:mod:`._errors`). Command modules
import heavy things (torch, servers) inside their ``run`` only, so ``--help`` stays instant.
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
    "migrate": "migrate",
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
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        if hasattr(module, "register"):  # the pages command keeps its own sub-actions
            module.register(sub)
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
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
