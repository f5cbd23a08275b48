"""The one parser of page-retriever specs (``vertex-mm pages --embedder``, the PDF example)."""

from __future__ import annotations

import pytest

from vertex_mm.errors import InputError
from vertex_mm.registry import PageRetrieverSpec, parse_page_retriever_spec


@pytest.mark.parametrize(("spec", "name", "checkpoint", "late", "model"), [
    ("ocr-fused", "ocr-fused", None, False, "ocr-fused"),
    ("ocr-bm25", "ocr-bm25", None, False, "ocr-bm25"),
    ("regions", "regions", None, True, "regions"),
    ("local", "regions", None, True, "regions"),  # what the CLI called the region model
    ("colpali:/models/colqwen2", "colpali", "/models/colqwen2", True, "colpali"),
    ("colqwen2:/models/colqwen2", "colqwen2", "/models/colqwen2", True, "colqwen2"),
    ("colpali-engine:/models/x", "colpali-engine", "/models/x", True, "colpali-engine"),
    ("my-pages-model:/ckpt", "my-pages-model", "/ckpt", True, "my-pages-model"),
])
def test_specs_name_a_retriever_or_a_page_model_and_a_folder(spec, name, checkpoint, late, model):
    parsed = parse_page_retriever_spec(spec)
    assert (parsed.name, parsed.checkpoint, parsed.late_interaction, parsed.model) == (name, checkpoint, late, model)
    assert parse_page_retriever_spec(str(parsed)) == parsed == parse_page_retriever_spec(parsed)


def test_the_canonical_form_keeps_the_folder():
    assert str(PageRetrieverSpec("colpali", "/m/x")) == "colpali:/m/x" and str(parse_page_retriever_spec("local")) == "regions"


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty page-retriever spec"),
    ("colpali:", "names no folder"),
    ("ocr-fused:/x", "takes no checkpoint folder"),
])
def test_bad_specs_are_input_errors(spec, message):
    with pytest.raises(InputError, match=message):
        parse_page_retriever_spec(spec)
