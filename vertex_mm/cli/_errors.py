"""How a command fails: the one map from an exception to a short message and an exit code.

Commands raise; :func:`vertex_mm.cli.main` calls :func:`exit_code_for` once. Exit codes:

* 0 — done;
* 1 — ran, but not everything succeeded (some inputs failed, nothing matched): the command
  returns 1 itself after printing what failed;
* 2 — could not run as asked: a bad flag, input, index or environment (every
  :class:`~vertex_mm.errors.VertexMMError`, and the OS errors of files and ports);
* 130 — interrupted (Ctrl-C).

``VERTEX_MM_DEBUG=1`` re-raises instead, for the full traceback.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..errors import BatchError, InputError, UnauthenticatedError, VertexMMError

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "UsageError", "exit_code_for"]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class UsageError(InputError):
    """Raised by a command when its flags do not make sense together (nothing was done)."""


def exit_code_for(exc: BaseException, command: str, *, err: TextIO | None = None) -> int:
    """Print ``vertex-mm COMMAND: message`` for an error a user can act on and return its exit
    code; re-raise anything else (a bug keeps its traceback)."""
    err = err or sys.stderr
    if isinstance(exc, KeyboardInterrupt):
        print(f"vertex-mm {command}: interrupted", file=err)
        return EXIT_INTERRUPTED
    if os.environ.get("VERTEX_MM_DEBUG") or not isinstance(exc, (VertexMMError, OSError)):
        raise exc
    exc = _cause(exc)
    print(f"vertex-mm {command}: {_message(exc)}", file=err)
    return EXIT_ERROR


def _cause(exc: BaseException) -> BaseException:
    """The one error behind a batch that failed for one reason: its only input (a single query),
    or missing credentials (every input fails alike). Said plainly, not as "1 of 1 inputs failed"."""
    if not isinstance(exc, BatchError) or not exc.errors:
        return exc
    causes = list(exc.errors.values())
    inputs = len(exc.result) if hasattr(exc.result, "__len__") else None
    if inputs == 1 or all(isinstance(e, UnauthenticatedError) for e in causes):
        return causes[0]
    return exc


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, VertexMMError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, UnauthenticatedError):
        from ..google_api import CLI_WORDING

        for python, flag in CLI_WORDING.items():  # the command line's way of saying it
            text = text.replace(python, flag)
    # Spaces collapse within a line; a message built of lines (numbered steps, say) keeps them.
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n  ".join(line for line in lines if line)
