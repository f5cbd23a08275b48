"""The colpali-engine adapter (registry model ``colpali-engine``, spec ``colpali-engine:DIR``): local
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


class _StubModel:
    """colpali-engine's model class (it does not import here): loads a folder, records the device."""

    dim = 128

    @classmethod
    def from_pretrained(cls, path: str, **kw: object) -> "_StubModel":
        return cls()

    def to(self, device: object) -> "_StubModel":
        self.device = device
        return self

    def eval(self) -> "_StubModel":
        return self


class _StubProcessor:
    @classmethod
    def from_pretrained(cls, path: str, **kw: object) -> "_StubProcessor":
        return cls()


@pytest.fixture
def stub_engine(monkeypatch):
    import types

    import local_backend.models.colpali_engine as ce

    stub = types.SimpleNamespace(ColQwen2=_StubModel, ColQwen2Processor=_StubProcessor)
    monkeypatch.setattr(ce, "_colpali_models", lambda: stub)


def _engine_folder(path, weights: bytes):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (path / "model.safetensors").write_bytes(weights)
    return path


@pytest.mark.usefixtures("stub_engine")
def test_two_checkpoints_in_folders_of_one_name_are_two_spaces(tmp_path):
    import shutil

    v1 = _engine_folder(tmp_path / "v1" / "colqwen2-merged", b"\1" * 4096)
    v2 = _engine_folder(tmp_path / "v2" / "colqwen2-merged", b"\2" * 4096)
    copy = tmp_path / "copy" / "colqwen2-merged"
    shutil.copytree(v1, copy)
    spaces = [ColPaliEmbedder.from_pretrained(p).space.id for p in (v1, v2, copy)]
    assert spaces[0] != spaces[1] and spaces[0] == spaces[2]
    assert spaces[0].startswith("colpali/colqwen2-")


@pytest.mark.usefixtures("stub_engine")
def test_cuda_without_a_gpu_falls_back_to_the_cpu_with_a_warning(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    from local_backend.device import DeviceFallbackWarning

    with pytest.warns(DeviceFallbackWarning):
        emb = ColPaliEmbedder.from_pretrained(_engine_folder(tmp_path / "ckpt", b"\1" * 64), device="cuda")
    assert str(emb.device) == "cpu" and str(emb.model.device) == "cpu"
