"""gemini-embedding-2-preview, superseded by the GA gemini-embedding-2, is sent and names its
space as gemini-embedding-2, with one FutureWarning; an index of the preview's vectors refuses
the new ones rather than mixing them."""

from __future__ import annotations

import numpy as np
import pytest

from vertex_mm import get_embedder
from vertex_mm.errors import EmbeddingSpaceMismatchError
from vertex_mm.limits import models as limit_models
from vertex_mm.results import EmbeddingSpace


def test_the_preview_id_is_sent_as_the_ga_model(emulator, monkeypatch):
    monkeypatch.setattr(limit_models, "_warned", set())
    with pytest.warns(FutureWarning, match="gemini-embedding-2-preview is a preview model superseded by "
                                           "gemini-embedding-2"):
        emb = get_embedder("gemini", base_url=emulator.url, model="gemini-embedding-2-preview", retry="none",
                           requests_per_minute=None)
    sent: list[str] = []
    real = emb._client.models.embed_content

    def recording(*, model, **kw):
        sent.append(model)
        return real(model=model, **kw)

    monkeypatch.setattr(emb._client.models, "embed_content", recording)
    try:
        assert emb.model == "gemini-embedding-2"
        assert emb.content_space(128).id == "gemini/gemini-embedding-2/128"
        v = emb.embed_content(["a cat on a mat"], dimension=128)
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
        assert sent == ["gemini-embedding-2"]
    finally:
        emb.close()


def test_vectors_of_the_preview_space_and_the_ga_space_do_not_mix():
    preview = EmbeddingSpace("gemini", "gemini-embedding-2-preview", 128)
    with pytest.raises(EmbeddingSpaceMismatchError):
        preview.require_same(EmbeddingSpace("gemini", "gemini-embedding-2", 128))
