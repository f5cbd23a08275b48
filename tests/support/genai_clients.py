"""The unmodified google-genai client aimed at the emulator, as the tests build it."""

from __future__ import annotations

from typing import Any


def genai_client_for(url: str) -> Any:
    """google-genai in Vertex mode (project ``p``, location global) with ``url`` as its base URL;
    genai refuses AnonymousCredentials on Vertex, and the emulator never checks the token."""
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    return genai.Client(vertexai=True, project="p", location="global",
                        credentials=google.oauth2.credentials.Credentials(token="t"),
                        http_options=types.HttpOptions(base_url=url))
