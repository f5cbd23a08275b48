"""Fixtures of the drop-in tests: the real vertexai SDK aimed at the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials


@pytest.fixture
def real(emulator: Any, vertexai_global_config: None) -> Any:
    """The real ``vertexai.vision_models.MultiModalEmbeddingModel`` on the emulator (REST)."""
    import vertexai
    from vertexai.vision_models import MultiModalEmbeddingModel

    vertexai.init(project="test-project", location="us-central1", api_endpoint=emulator.url,
                  api_transport="rest", credentials=AnonymousCredentials())
    return MultiModalEmbeddingModel.from_pretrained("multimodalembedding@001")
