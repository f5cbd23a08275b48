"""Fixtures for the emulator tests: google-genai clients of an emulator (the storage fixtures
are in ../conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vertex_mm.emulator import EmulatorServer


def make_genai_client(url: str, *, api_version: str | None = None) -> Any:
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    return genai.Client(
        vertexai=True, project="test-project", location="global",
        # genai refuses AnonymousCredentials on Vertex; the emulator never checks the token.
        credentials=google.oauth2.credentials.Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=url, api_version=api_version),
    )


@pytest.fixture
def genai_for() -> Iterator[Callable[..., Any]]:
    """``genai_for(url, api_version=None)``: a google-genai Vertex client of an emulator,
    closed after the test."""
    clients: list[Any] = []

    def make(url: str, *, api_version: str | None = None) -> Any:
        clients.append(make_genai_client(url, api_version=api_version))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def genai(gcs_emulator: EmulatorServer, genai_for: Callable[..., Any]) -> Any:
    return genai_for(gcs_emulator.url)
