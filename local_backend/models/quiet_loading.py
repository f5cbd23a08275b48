"""``quiet_weight_loading()``: load a transformers model without its "Loading weights" bar.

transformers 5.x draws a tqdm bar over the tensors of every ``from_pretrained``. For a local
model loaded from disk in well under a second it is only noise in every example and CLI run.
The context manager turns transformers' progress bars off for the duration of the load and
restores the previous setting after. Logging is untouched, so real warnings (missing or
unexpected keys, a fallback image processor) still show.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet_weight_loading"]

_lock = threading.Lock()
_depth = 0  # nested or concurrent loads: the first one in turns bars off, the last one out restores them
_restore: tuple[bool, bool] = (False, False)


@contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """Silence transformers' progress bars inside the block; restore the user's setting after.

    The switch is process-wide (transformers has no per-call option), so a bar another thread
    starts during the load is hidden too; loads take a fraction of a second.
    """
    global _depth, _restore
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    with _lock:
        if _depth == 0:
            hub_disabled = hub_utils.are_progress_bars_disabled()  # type: ignore[attr-defined]
            _restore = (hf_logging.is_progress_bar_enabled(), hub_disabled)
            if _restore[0]:
                hf_logging.disable_progress_bar()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore[0]:
                hf_logging.enable_progress_bar()
                if _restore[1]:  # enable_progress_bar() also turns the hub's bars back on
                    hub_utils.disable_progress_bars()  # type: ignore[attr-defined]
