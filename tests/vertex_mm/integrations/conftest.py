"""Fixtures of the framework adapter tests: real sample photos, the offline local embedder
(loaded once per session), and vertex/gemini embedders on the in-process emulator.

Remote embedders here run without the client-side rate limit and without retries, so a test
sees exactly the requests it makes; tests of concurrency set ``concurrency`` themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from vertex_mm import get_embedder
from vertex_mm.embedder import BaseEmbedder
from vertex_mm.emulator import EmulatorServer
from vertex_mm.sample_data import sample_photos

#: Options that make a remote backend send each request once, as soon as it can.
UNTHROTTLED: dict[str, Any] = {"requests_per_minute": None, "retry": "none"}


@pytest.fixture
def unthrottled() -> dict[str, Any]:
    return dict(UNTHROTTLED)


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    return sample_photos()


@pytest.fixture(scope="session")
def local_embedder() -> BaseEmbedder:
    """The real offline model (ConSE), shared by every slow test of this folder."""
    return get_embedder("local")


@pytest.fixture
def remote_options(emulator: EmulatorServer) -> Callable[[str], dict[str, Any]]:
    """``backend -> options`` reaching the emulator: ``VertexMMEmbeddings(backend, **opts)``."""

    def options(backend: str) -> dict[str, Any]:
        where = "api_endpoint" if backend == "vertex" else "base_url"
        return {where: emulator.url, **UNTHROTTLED}

    return options


def run_watching_loop(call: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    """Run ``call()`` on a fresh event loop beside a 20 ms ticker; return its result and how
    many times the ticker ran (an "async" call that blocks the loop lets it tick once or twice)."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.02)

    async def run() -> Any:
        tick = asyncio.ensure_future(ticker())
        try:
            return await call()
        finally:
            tick.cancel()

    return asyncio.run(run()), ticks


@pytest.fixture
def watching_loop() -> Callable[[Callable[[], Awaitable[Any]]], tuple[Any, int]]:
    return run_watching_loop
