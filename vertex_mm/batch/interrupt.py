"""What a stopped batch leaves behind: the inputs that never ran, and the interruption itself.

Ctrl-C must not throw away finished work. The batch runners stop starting new inputs, let the
requests already on the wire finish, and raise :class:`BatchInterrupted`, which is a
``KeyboardInterrupt`` (so the program still stops unless the caller says otherwise) carrying
every finished result.
"""

from __future__ import annotations

from typing import Any

from ..errors import NotRunError

__all__ = ["BatchInterrupted", "NotRunError", "StopRequested"]


class StopRequested(Exception):
    """Raised inside a worker when the batch is stopping; turned into :class:`NotRunError`."""


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C (or another stop) ended a batch early; nothing finished was lost.

    ``results`` has one entry per input seen so far, in input order: a result, a typed error,
    or :class:`NotRunError` for inputs that never finished (empty for a stream, whose results
    went to its ``on_result`` as they came). ``completed`` counts the finished inputs,
    ``started`` those begun. ``result`` is set by callers that assemble something richer
    (``embed_images`` puts its partial ``Embeddings`` there).
    """

    def __init__(self, results: list[Any], completed: int, *, started: int | None = None) -> None:
        self.started = len(results) if started is None else started
        super().__init__(f"batch stopped: {completed} of {self.started} started inputs finished")
        self.results = results
        self.completed = completed
        self.result: Any = None
