"""Emulator settings: where it listens, which vectors it serves, and which faults it injects.

Settings are plain frozen values. :meth:`EmulatorSettings.from_environ` reads them from
``VERTEX_MM_EMULATOR_*`` variables (Starlette ``Config`` style: typed reads, errors that name
the key), and the CLI flags override those. :class:`FaultSettings` is the part that can change
while the emulator runs (``POST /emulator/faults``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ..errors import InputError
from ..limits import MB, MULTIMODAL_EMBEDDING_001

__all__ = ["ENV_PREFIX", "BackendName", "EmulatorSettings", "FaultSettings", "SettingsError"]

ENV_PREFIX = "VERTEX_MM_EMULATOR_"
BackendName = Literal["auto", "local", "hashed"]
_BACKENDS = ("auto", "local", "hashed")

T = TypeVar("T")


#: The longest latency or Retry-After the emulator will inject (a typo must not hang it).
MAX_SECONDS = 600.0


class SettingsError(InputError):
    """Raised when a setting has a bad value; the message names the setting."""


@dataclass(frozen=True)
class FaultSettings:
    """Faults injected into prediction calls (``:predict`` and ``:embedContent`` only).

    Per request, in this order: wait ``latency`` seconds; drop the connection with
    probability ``drop_rate``; answer 429 if the sliding-window quota is used up; answer 503
    with probability ``fault_rate_503``, or 429 with probability ``fault_rate_429``.

    ``quota_rpm`` is a per-minute quota of each base model (as the service counts "online
    prediction requests per base model"), counted over a sliding window of ``quota_window``
    seconds: at most ``max(1, round(quota_rpm * quota_window / 60))`` requests are admitted
    per window (a short window lets tests see the quota refill quickly). Rejected requests
    do not use quota. ``seed`` makes the random faults a fixed sequence.
    """

    latency: float = 0.0
    quota_rpm: int | None = None
    quota_window: float = 60.0
    fault_rate_503: float = 0.0
    fault_rate_429: float = 0.0
    drop_rate: float = 0.0
    seed: int | None = None
    #: Retry-After (seconds) sent with randomly injected 429s and 503s.
    retry_after: float = 1.0
    #: Batch prediction jobs: seconds a job waits in JOB_STATE_PENDING before it runs, and
    #: seconds each input line takes once it runs (so tests can watch a job run, and kill a
    #: client mid-job).
    batch_start_delay: float = 0.0
    batch_line_latency: float = 0.0
    #: Refuse to create batch prediction jobs, as the gemini-embedding-2 model card says the
    #: service does ("Batch prediction: Not supported"), where the batch page says it does not.
    batch_unsupported: bool = False

    def __post_init__(self) -> None:
        for name in ("latency", "quota_window", "retry_after", "fault_rate_503", "fault_rate_429", "drop_rate",
                     "batch_start_delay", "batch_line_latency"):
            value = getattr(self, name)
            # bool is an int, and inf/NaN would make every later call hang or always fail.
            _require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                     f"{name} must be a finite number", value)
        _require(0 <= self.latency <= MAX_SECONDS, f"latency must be within [0, {MAX_SECONDS:g}] seconds", self.latency)
        _require(0 < self.quota_window <= 24 * 3600, "quota_window must be within (0, 86400] seconds", self.quota_window)
        _require(0 <= self.retry_after <= MAX_SECONDS, f"retry_after must be within [0, {MAX_SECONDS:g}] seconds",
                 self.retry_after)
        if self.seed is not None:
            _require(isinstance(self.seed, int) and not isinstance(self.seed, bool), "seed must be an int", self.seed)
        for name in ("batch_start_delay", "batch_line_latency"):
            value = getattr(self, name)
            _require(0 <= value <= MAX_SECONDS, f"{name} must be within [0, {MAX_SECONDS:g}] seconds", value)
        _require(isinstance(self.batch_unsupported, bool), "batch_unsupported must be a boolean", self.batch_unsupported)
        if self.quota_rpm is not None:
            _require(
                isinstance(self.quota_rpm, int) and not isinstance(self.quota_rpm, bool) and self.quota_rpm > 0,
                "quota_rpm must be a positive int (or None for no quota)",
                self.quota_rpm,
            )
        for name in ("fault_rate_503", "fault_rate_429", "drop_rate"):
            rate = getattr(self, name)
            _require(0.0 <= rate <= 1.0, f"{name} must be within [0, 1]", rate)
        total = self.fault_rate_503 + self.fault_rate_429 + self.drop_rate
        _require(total <= 1.0, "fault_rate_503 + fault_rate_429 + drop_rate must be <= 1", total)

    @property
    def quota_per_window(self) -> int | None:
        if self.quota_rpm is None:
            return None
        return max(1, round(self.quota_rpm * self.quota_window / 60.0))

    def updated(self, changes: Mapping[str, Any]) -> "FaultSettings":
        """A copy with ``changes`` applied; unknown keys raise :class:`SettingsError`."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise SettingsError(f"unknown fault settings {unknown}; known: {sorted(names)}")
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:  # a value of the wrong type met a comparison
            raise SettingsError(f"bad fault settings {dict(changes)!r}: {exc}") from exc

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EmulatorSettings:
    """Everything the emulator needs to start. ``port=0`` picks a free port."""

    host: str = "127.0.0.1"
    port: int = 0
    backend: BackendName = "auto"
    faults: FaultSettings = field(default_factory=FaultSettings)
    #: Requests with larger bodies are refused with 400, as the service does.
    max_request_bytes: int = MULTIMODAL_EMBEDDING_001.max_request_bytes
    #: Resolve the vector backend before listening (the CLI does; tests start faster without).
    preload: bool = False
    #: The largest gs:// object read for a request or a batch job (media, input JSONL files).
    max_gcs_object_bytes: int = 100 * MB

    def __post_init__(self) -> None:
        _require(self.backend in _BACKENDS, f"backend must be one of {', '.join(_BACKENDS)}", self.backend)
        _require(0 <= self.port <= 65535, "port must be within 0..65535", self.port)
        _require(self.max_request_bytes > 0, "max_request_bytes must be > 0", self.max_request_bytes)
        _require(self.max_gcs_object_bytes > 0, "max_gcs_object_bytes must be > 0", self.max_gcs_object_bytes)

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = ENV_PREFIX, **overrides: Any
    ) -> "EmulatorSettings":
        """Read ``{prefix}HOST``, ``PORT``, ``BACKEND``, ``MAX_REQUEST_BYTES``, ``LATENCY_MS``,
        ``QUOTA_RPM``, ``QUOTA_WINDOW``, ``FAULT_RATE_503``, ``FAULT_RATE_429``, ``DROP_RATE``,
        ``SEED``, ``MAX_GCS_OBJECT_BYTES``, ``BATCH_START_DELAY_MS`` and ``BATCH_LINE_LATENCY_MS``;
        keyword ``overrides`` (not None) win over the environment."""
        env = _Env(os.environ if environ is None else environ, prefix)
        latency_ms = env.get("LATENCY_MS", float, 0.0)
        faults = FaultSettings(
            latency=latency_ms / 1000.0,
            quota_rpm=env.get("QUOTA_RPM", int, None),
            quota_window=env.get("QUOTA_WINDOW", float, 60.0),
            fault_rate_503=env.get("FAULT_RATE_503", float, 0.0),
            fault_rate_429=env.get("FAULT_RATE_429", float, 0.0),
            drop_rate=env.get("DROP_RATE", float, 0.0),
            seed=env.get("SEED", int, None),
            batch_start_delay=env.get("BATCH_START_DELAY_MS", float, 0.0) / 1000.0,
            batch_line_latency=env.get("BATCH_LINE_LATENCY_MS", float, 0.0) / 1000.0,
        )
        values: dict[str, Any] = {
            "host": env.get("HOST", str, "127.0.0.1"),
            "port": env.get("PORT", int, 0),
            "backend": env.get("BACKEND", str, "auto"),
            "max_request_bytes": env.get("MAX_REQUEST_BYTES", int, MULTIMODAL_EMBEDDING_001.max_request_bytes),
            "max_gcs_object_bytes": env.get("MAX_GCS_OBJECT_BYTES", int, 100 * MB),
            "faults": faults,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class _Env:
    def __init__(self, environ: Mapping[str, str], prefix: str) -> None:
        self._environ = environ
        self._prefix = prefix

    def get(self, key: str, cast: Callable[[str], T], default: Any) -> Any:
        name = self._prefix + key
        raw = self._environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            return cast(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a valid {cast.__name__}") from None


def _require(ok: bool, message: str, value: Any) -> None:
    if not ok:
        raise SettingsError(f"{message}, got {value!r}")
