"""EmbedContents on the DirectRunner: each element one content (a part or a list of parts), one
vector each, bad contents in the dead letter with their ids."""

from __future__ import annotations

import numpy as np
import pytest
from factories import image_bytes, pdf_bytes

BEAM_SKIP = "apache_beam is not importable here; test_beam_venv.py runs this file in a venv that has it"
beam = pytest.importorskip("apache_beam", reason=BEAM_SKIP)

from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from vertex_mm import Document, Image  # noqa: E402
from vertex_mm.beam import EmbedContents  # noqa: E402
from vertex_mm.testing import HashedEmbedder  # noqa: E402


def test_contents_embed_one_vector_each_and_bad_ones_are_dead_letters():
    png = image_bytes("PNG")
    elements = [
        {"id": "text", "content": "a chart of revenue"},
        {"id": "mixed", "content": ["revenue", Image(png), Document(pdf_bytes(1))]},
        {"id": "too-many", "content": [Image(png)] * 7},
    ]
    expected = {
        "text": HashedEmbedder().embed_content("title: none | text: a chart of revenue", dimension=128),
    }

    def check(rows):
        got = {r["id"]: np.asarray(r["embedding"]) for r in rows}
        assert sorted(got) == ["mixed", "text"]
        np.testing.assert_allclose(got["text"], expected["text"], rtol=1e-5)
        assert all(r["embedding_space"] == "hashed/sha256/128;task=retrieval_document" for r in rows)

    with BeamTestPipeline() as p:
        out = p | beam.Create(elements) | EmbedContents(embedder_factory=HashedEmbedder, dimension=128,
                                                        task="retrieval_document")
        assert_that(out.embeddings, check, label="embeddings")
        assert_that(out.dead_letter | beam.Map(lambda r: (r["id"], r["error_type"], r["stage"])),
                    equal_to([("too-many", "InvalidImageError", "embed")]), label="dead letter")
