"""The open_clip-style registry: named JSON configs, lazy factories, copies not references."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from local_backend.models import registry
from local_backend.models.registry import create_model, get_model_config, list_models, register_model_config
from vertex_mm.errors import InputError


def test_list_models_names_the_shipped_models() -> None:
    names = list_models()
    for name in ("default", "conse-effnet-minilm", "efficientnet-lite0", "minilm-l6", "resnet-hf"):
        assert name in names
    assert names == sorted(names)


def test_default_is_an_alias_of_the_conse_model() -> None:
    assert get_model_config("default") == get_model_config("conse-effnet-minilm")
    cfg = get_model_config("default")
    assert cfg["name"] == "conse-effnet-minilm"
    assert set(cfg["modalities"]) == {"image", "text"} and cfg["native_dim"] == 1664  # 384 ConSE + 1280 CNN detail


def test_get_model_config_returns_a_copy() -> None:
    cfg = get_model_config("efficientnet-lite0")
    cfg["params"]["layer"] = "logits"
    cfg["native_dim"] = 7
    again = get_model_config("efficientnet-lite0")
    assert again["params"]["layer"] == "pooled" and again["native_dim"] == 1280


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown local model 'nope'.*efficientnet-lite0"):
        get_model_config("nope")


def test_register_model_config_from_a_json_file(tmp_path) -> None:
    path = tmp_path / "effnet-logits.json"
    path.write_text(json.dumps({
        "name": "test-effnet-logits",
        "factory": "local_backend.models.efficientnet:create_efficientnet_lite0",
        "params": {"layer": "logits"},
        "modalities": ["image"],
        "native_dim": 1000,
        "description": "class scores",
    }))
    assert register_model_config(path) == ["test-effnet-logits"]
    assert "test-effnet-logits" in list_models()
    model = create_model("test-effnet-logits")
    assert model.native_dim == 1000 and model.modalities == frozenset({"image"})


def test_register_model_config_from_a_folder_and_an_alias(tmp_path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"name": "test-alias-text", "alias_of": "minilm-l6"}))
    assert register_model_config(tmp_path) == ["test-alias-text"]
    assert get_model_config("test-alias-text")["name"] == "minilm-l6"


def test_register_model_config_from_a_dict() -> None:
    names = register_model_config({
        "name": "test-dict", "factory": "local_backend.models.minilm:create_minilm",
        "params": {"max_tokens": 16}, "modalities": ["text"], "native_dim": 384,
    })
    assert names == ["test-dict"] and get_model_config("test-dict")["params"] == {"max_tokens": 16}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "factory": "a:b", "modalities": ["image"]}, "missing keys"),
        ({"name": "x", "factory": "no_colon", "modalities": ["image"], "native_dim": 3}, "factory must be"),
        ({"name": "x", "factory": "a:b", "modalities": ["audio"], "native_dim": 3}, "modalities"),
        ({"name": "x", "factory": "a:b", "modalities": ["image"], "native_dim": 0}, "native_dim"),
    ],
)
def test_bad_configs_are_rejected_naming_the_file(tmp_path, data, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as info:
        register_model_config(path)
    assert "bad.json" in str(info.value)


def test_create_model_applies_overrides(effnet) -> None:
    model = create_model("efficientnet-lite0", layer="logits")
    assert model.native_dim == 1000 and model is not effnet


def test_missing_factory_module_is_a_missing_dependency_error() -> None:
    from vertex_mm.errors import MissingDependencyError

    register_model_config({"name": "test-missing", "factory": "no_such_module_xyz:make",
                           "modalities": ["image"], "native_dim": 8})
    with pytest.raises(MissingDependencyError, match="no_such_module_xyz"):
        create_model("test-missing")


def test_importing_the_backend_and_listing_models_does_not_import_torch() -> None:
    code = (
        "import sys, vertex_mm, local_backend; local_backend.list_models(); "
        "local_backend.get_model_config('default'); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_shared_models_are_loaded_once(effnet) -> None:
    assert registry.get_shared_model("efficientnet-lite0") is effnet


def test_a_config_file_cannot_name_a_factory_outside_the_allowed_packages(tmp_path, monkeypatch) -> None:
    from local_backend.models import registry


    path = tmp_path / "evil.json"
    path.write_text(json.dumps({"name": "test-evil", "factory": "os:system", "params": {"command": "true"},
                                "modalities": ["image"], "native_dim": 8}))
    with pytest.raises(InputError, match="'os:system' is not in an allowed package"):
        register_model_config(path)
    assert "test-evil" not in list_models()
    monkeypatch.setenv("VERTEX_MM_FACTORY_MODULES", "mypkg, os")
    assert register_model_config(path) == ["test-evil"]  # allowed by the user, on purpose
    monkeypatch.delenv("VERTEX_MM_FACTORY_MODULES")
    path.write_text(json.dumps({"name": "test-mine", "factory": "mypkg.models:make", "modalities": ["image"],
                                "native_dim": 8}))
    with pytest.raises(InputError):
        register_model_config(path)
    monkeypatch.setattr(registry, "_allowed_factories", {"local_backend"})
    registry.allow_factory_modules("mypkg")
    assert register_model_config(path) == ["test-mine"]


@pytest.mark.parametrize("options,message", [
    ({"checkpoint": "/nowhere", "dtype": "bfloat16"},
     r"local model 'clip' takes no option 'dtype'; it takes: checkpoint, name, batch_size, device"),
    ({"chekpoint": "x"}, r"local model 'clip' takes no option 'chekpoint'; it takes: checkpoint, "),
])
def test_an_option_the_model_does_not_take_is_an_input_error(options, message) -> None:
    # It was Python's TypeError about create_clip(), an internal name, and no list of options.
    with pytest.raises(InputError, match=message) as info:
        create_model("clip", **options)
    assert info.value.input_name in options


def test_a_shared_model_is_reloaded_when_its_files_are_rewritten(tmp_path) -> None:
    # Retraining heads (or saving a checkpoint) to the same path kept serving the old model.
    import os

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 8, 8, 16], depths=[1, 1, 1, 1],
                                       layer_type="basic", hidden_act="relu")
    folder = tmp_path / "resnet"
    torch.manual_seed(0)
    transformers.ResNetModel(config).save_pretrained(folder)
    first = registry.get_shared_model("resnet-hf", path=str(folder))
    assert registry.get_shared_model("resnet-hf", path=str(folder)) is first  # unchanged files: shared
    torch.manual_seed(1)
    transformers.ResNetModel(config).save_pretrained(folder)  # same size, other weights
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a coarse-clock filesystem sees it too
    second = registry.get_shared_model("resnet-hf", path=str(folder))
    assert second is not first and second.space_tag != first.space_tag
    assert registry.get_shared_model("resnet-hf", path=str(folder)) is second
