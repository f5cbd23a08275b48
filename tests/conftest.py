"""The whole suite's ground rules: no Google credentials, project or endpoint from the machine.

A developer's shell may hold ``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_APPLICATION_CREDENTIALS`` or an
API key; a test must never pick them up (it would reach for Google, or behave differently on
CI). They are removed from the environment once, before any test runs, so subprocesses (the
CLI tests) inherit the clean environment too. ``VERTEX_MM_CACHE_DIR`` is kept: it only says
where rebuildable caches (the ConSE class matrix, OCR results) live.

Ctrl-C must work in the tests of Ctrl-C: a shell that starts the suite in the background
(``pytest &`` without job control) leaves SIGINT ignored, which Python and every subprocess
then inherit, and a program is right to keep ignoring it. The suite puts Python's own handler
back, so those tests see a Ctrl-C and their subprocesses start with SIGINT at its default.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

#: Variables that would route a client to a real project, credentials or endpoint, or pick the
#: kernels and screens the tests choose themselves.
_CLEARED_PREFIXES = ("GOOGLE_", "GCLOUD_", "CLOUDSDK_", "GEMINI_", "VERTEX_MM_EMULATOR_")
_CLEARED_NAMES = ("STORAGE_EMULATOR_HOST", "VERTEX_MM_MODEL_CONFIGS", "VERTEX_MM_DEBUG", "VERTEX_MM_NATIVE_BF16",
                  "VERTEX_MM_NATIVE_FP16", "VERTEX_MM_SCREEN", "VERTEX_MM_HAMMING_KERNEL")


def _cleared(name: str) -> bool:
    return name.startswith(_CLEARED_PREFIXES) or name in _CLEARED_NAMES


def pytest_configure(config: pytest.Config) -> None:
    for name in [n for n in os.environ if _cleared(n)]:
        del os.environ[name]
    # google-auth would otherwise probe the GCE metadata server (a network call) when looking
    # for credentials; there is none, and waiting for it only slows the tests.
    os.environ["NO_GCE_CHECK"] = "True"
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the bfloat16 paths (the bfloat16 certified screen, bfloat16 compute) on any CPU: they
    are what such tests check. Where bfloat16 is emulated they run, slower, with the same bits.
    The screen is forced too: with the integer kernel and no AMX, ``auto`` picks int16."""
    monkeypatch.setenv("VERTEX_MM_NATIVE_BF16", "1")
    monkeypatch.setenv("VERTEX_MM_SCREEN", "bfloat16")


_INIT_ATTRS = ("_project", "_location", "_credentials", "_api_endpoint", "_api_transport")


@pytest.fixture(autouse=True)
def _vertexai_init_is_put_back() -> Iterator[None]:
    """Every test leaves ``vertexai.init``'s process-wide settings as it found them: the drop-in
    reads them, and one left behind (``location='us-central1'`` by bench_batch, run in-process
    by tests/benchmarks) made later gemini drop-in tests warn and fail."""
    import sys

    module = sys.modules.get("google.cloud.aiplatform.initializer")
    saved = dict(module.global_config.__dict__) if module is not None else None
    yield
    module = sys.modules.get("google.cloud.aiplatform.initializer")
    if module is None:
        return
    if saved is None:  # imported during the test: nothing was set before it
        for attr in _INIT_ATTRS:
            if hasattr(module.global_config, attr):
                setattr(module.global_config, attr, None)
    else:
        module.global_config.__dict__.clear()
        module.global_config.__dict__.update(saved)
