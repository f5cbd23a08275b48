"""The colpali-engine adapter (registry model ``colpali-engine``, spec ``colpali:DIR``): local
folders only, clear errors, and (when colpali-engine imports) the plumbing on the smallest
random-initialised ColPali config."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from local_backend.models.colpali_engine import ColPaliEmbedder, detect_family
from vertex_mm.errors import MissingDependencyError, WeightsNotFoundError
from vertex_mm.pages import MultiVectorEmbedder
from vertex_mm.registry import get_page_retriever


def test_missing_folder_names_the_folder_and_downloads_nothing(tmp_path):
    missing = tmp_path / "colqwen2-merged"
    with pytest.raises(WeightsNotFoundError, match="colqwen2-merged"):
        ColPaliEmbedder.from_pretrained(missing)


def test_the_colpali_spec_reaches_this_adapter_through_the_registry(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="colqwen2-merged"):
        get_page_retriever(f"colpali:{tmp_path / 'colqwen2-merged'}")


@pytest.mark.parametrize(
    "config, family",
    [
        ({"model_type": "paligemma", "architectures": ["ColPali"]}, "colpali"),
        ({"model_type": "qwen2_vl", "architectures": ["ColQwen2"]}, "colqwen2"),
        ({"model_type": "qwen2_5_vl"}, "colqwen2_5"),
        ({"model_type": "idefics3", "architectures": ["ColIdefics3"]}, "colidefics3"),
    ],
)
def test_family_is_read_from_config_json(tmp_path, config, family):
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert detect_family(tmp_path) == family


def test_unknown_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(WeightsNotFoundError, match="bert"):
        detect_family(tmp_path)


def _colpali_models_import() -> str | None:
    if importlib.util.find_spec("colpali_engine") is None:
        return (
            "colpali-engine is not installed: `pip install colpali-engine` adds a CUDA torchvision 0.28 that does not "
            "import beside torch 2.13.0+cpu (and then breaks transformers' image processors for the whole venv), and "
            "colpali_engine.models needs torchvision through transformers' Qwen2-VL image processor, so no config, "
            "however small, can be built here; the adapter's error paths are tested above"
        )
    try:
        import colpali_engine.models  # noqa: F401
    except ImportError as exc:
        return (
            f"colpali_engine.models does not import here ({exc}): it imports transformers' Qwen2-VL image "
            "processor, which needs torchvision, and no torchvision build matches torch 2.13.0+cpu"
        )
    return None


@pytest.mark.slow
def test_tiny_random_colpali_runs_through_the_adapter(tmp_path):
    reason = _colpali_models_import()
    if reason:
        pytest.skip(reason)
    import torch
    from colpali_engine.models import ColPali, ColPaliProcessor
    from PIL import Image
    from transformers import PaliGemmaConfig

    # Smallest config ColPali accepts: a 2-layer SigLIP tower and a 2-layer Gemma.
    cfg = PaliGemmaConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 28, "patch_size": 14, "projection_dim": 32},
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 257216},
        projection_dim=32,
    )
    torch.manual_seed(0)
    ColPali(cfg).save_pretrained(tmp_path)
    pytest.importorskip("sentencepiece")
    ColPaliProcessor.from_pretrained(tmp_path, local_files_only=True)  # needs tokenizer files beside it
    emb = ColPaliEmbedder.from_pretrained(tmp_path)
    assert isinstance(emb, MultiVectorEmbedder)
    pages = emb.embed_pages([Image.new("RGB", (64, 80), "white")])
    assert pages[0].ndim == 2 and np.allclose(np.linalg.norm(pages[0], axis=1), 1, atol=1e-3)


def test_missing_colpali_engine_is_a_missing_dependency_error(tmp_path, monkeypatch):
    if _colpali_models_import() is None:
        pytest.skip("colpali-engine imports here")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "paligemma"}))
    with pytest.raises(MissingDependencyError, match="colpali-engine"):
        ColPaliEmbedder.from_pretrained(tmp_path)
