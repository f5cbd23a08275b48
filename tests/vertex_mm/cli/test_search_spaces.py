"""``vertex-mm search`` embeds a query the way the index's space says, and names a backend of
another model as a space mismatch before it looks at the dimension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vertex_mm import registry
from vertex_mm.cli import main
from vertex_mm.index import create_index
from vertex_mm.results import Embeddings, EmbeddingSpace


@pytest.fixture
def hashed_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._BACKENDS, "hashed", "vertex_mm.testing.hashed:HashedEmbedder")


def _index(path: Path, space_id: str, n: int = 3) -> Path:
    space = EmbeddingSpace.from_id(space_id)
    index = create_index(space)
    vectors = np.random.default_rng(0).normal(size=(n, space.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.add([f"p{i}.jpg" for i in range(n)], Embeddings(vectors, space), [{} for _ in range(n)])
    index.save(path)
    return path


def test_an_index_at_a_content_only_dimension_is_searched_through_the_content_path(hashed_backend, tmp_path,
                                                                                  capsys):
    # What `vertex-mm migrate --backend local` writes: 3072, no task; 3072 is no
    # multimodalembedding@001 dimension, so the query must be a content, as the items were.
    idx = _index(tmp_path / "rehearsal.idx", "hashed/sha256/3072")
    assert main(["search", str(idx), "a cat", "-k", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.count(".jpg") == 2 and "dimension" not in err


def test_a_backend_of_another_model_is_a_space_mismatch_not_a_dimension_error(tmp_path, capsys):
    idx = _index(tmp_path / "photos-g2.idx", "gemini/gemini-embedding-2/768;task=retrieval_document")
    # 768 is no vertex dimension; the model differs first, and that is what is said.
    assert main(["search", str(idx), "a cat", "--backend", "vertex", "--api-endpoint", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "but the index holds 'gemini/gemini-embedding-2/768" in err and "vertex/multimodalembedding@001" in err
    assert "dimension=768 is not supported" not in err


def test_one_bad_query_image_is_reported_plainly(hashed_backend, tmp_path, capsys):
    idx = _index(tmp_path / "photos.idx", "hashed/sha256/128")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert main(["search", str(idx), "--image", str(tmp_path / "empty.jpg")]) == 2
    err = capsys.readouterr().err
    assert "empty.jpg" in err and "inputs failed" not in err and "input #0" not in err
