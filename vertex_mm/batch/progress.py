"""A progress bar for batches: items done, rate and ETA (tqdm), plus retries and failures.

Off by default in library calls, on in the CLI. When off, nothing is imported or printed.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Counts finished, failed and retried items; draws them with tqdm when ``enabled``."""

    def __init__(self, total: int | None, *, enabled: bool = False, desc: str = "embed", unit: str = "item") -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.retries = 0
        self.skipped = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            # tqdm's default format already shows the rate (items/s) and the ETA.
            self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.1)

    def item_done(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            if self._bar is not None:
                self._bar.update(1)
                self._refresh_postfix()

    def item_skipped(self) -> None:
        """Count an input that needed no work (already in a resumed job's output)."""
        with self._lock:
            self.skipped += 1
            if self._bar is not None:
                self._bar.update(1)
                self._refresh_postfix()

    def retried(self, _state: Any = None) -> None:
        """Count one retry; usable directly as tenacity's ``before_sleep``."""
        with self._lock:
            self.retries += 1
            if self._bar is not None:
                self._refresh_postfix()

    def _refresh_postfix(self) -> None:
        counts = {"skipped": self.skipped, "failed": self.failed, "retries": self.retries}
        shown = {k: v for k, v in counts.items() if v}
        if shown:
            self._bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
