"""Hugging Face checkpoint folders that are damaged, incomplete or of another model: every loader
(ResNet, ViT/DINOv2, CLIP, ColPali) refuses them with a typed error that names the folder and the
download command, and never loads random weights."""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tiny_hf_checkpoints as cv  # noqa: E402  (tests/support is on sys.path)

checkpoints = cv.checkpoints

from local_backend.models.registry import create_model  # noqa: E402
from vertex_mm.errors import InputError, WeightsNotFoundError  # noqa: E402

Ckpts = dict[str, pathlib.Path]
SMALL_RESNET: dict[str, Any] = dict(num_channels=3, embedding_size=8, hidden_sizes=[8, 8, 8, 16], depths=[1, 1, 1, 1],
                    layer_type="basic", hidden_act="relu")


@pytest.fixture(scope="module")
def resnet(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("resnet") / "resnet-tiny"
    transformers.ResNetModel(transformers.ResNetConfig(**SMALL_RESNET)).save_pretrained(folder)
    return folder


def _copy(src: pathlib.Path, dst: pathlib.Path, weights: bytes | None = None) -> pathlib.Path:
    shutil.copytree(src, dst)
    if weights is not None:
        (dst / "model.safetensors").write_bytes(weights)
    return dst


def _damaged(kind: str, data: bytes) -> bytes:
    return data[: len(data) // 2] if kind == "truncated" else b""


# -- ResNet: another model's folder, or weights that do not fit, were loaded with random values ---


def test_resnet_refuses_a_folder_of_another_model(checkpoints: Ckpts) -> None:
    with pytest.raises(InputError, match=r"holds a 'clip' model, but local model 'resnet-hf' loads resnet"):
        create_model("resnet-hf", path=str(checkpoints["clip"]))


def test_resnet_refuses_a_timm_folder_and_says_why(tmp_path: pathlib.Path) -> None:
    # timm/resnet50.a1_in1k's layout: no model_type, timm key names; transformers built a default
    # ResNet-50 around it with every weight random.
    from safetensors.torch import save_file

    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet50", "num_classes": 1000}))
    save_file({"conv1.weight": torch.zeros(64, 3, 7, 7)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(InputError, match=r"timm checkpoint .*microsoft/resnet-50"):
        create_model("resnet-hf", path=str(tmp_path))


def test_resnet_refuses_weights_with_other_key_names(resnet: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # config.json says resnet, but the tensors are someone else's: all missing.
    from safetensors.torch import save_file

    folder = _copy(resnet, tmp_path / "renamed")
    save_file({"backbone.conv1.weight": torch.zeros(8, 3, 7, 7)}, str(folder / "model.safetensors"))
    with pytest.raises(WeightsNotFoundError, match=r"weights do not match config.json .*huggingface-cli download "
                                                   r"microsoft/resnet-50 --local-dir DIR"):
        create_model("resnet-hf", path=str(folder))


def test_resnet_refuses_weights_of_another_size(resnet: pathlib.Path, tmp_path: pathlib.Path) -> None:
    other = tmp_path / "other"
    transformers.ResNetModel(transformers.ResNetConfig(**{**SMALL_RESNET, "hidden_sizes": [8, 8, 8, 24]})).save_pretrained(other)
    folder = _copy(resnet, tmp_path / "mixed", (other / "model.safetensors").read_bytes())
    with pytest.raises(WeightsNotFoundError, match=rf"{folder}: .*damaged, incomplete or of another model"):
        create_model("resnet-hf", path=str(folder))


def test_resnet_without_weights_file_says_how_to_get_them(resnet: pathlib.Path, tmp_path: pathlib.Path) -> None:
    folder = _copy(resnet, tmp_path / "noweights")
    (folder / "model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match=r"(?s)no weights file.*huggingface-cli download "
                                                   r'microsoft/resnet-50 .*model="resnet-hf", path="DIR"'):
        create_model("resnet-hf", path=str(folder))


@pytest.mark.parametrize("kind", ["truncated", "empty"])
def test_resnet_with_damaged_weights_is_weights_not_found(resnet: pathlib.Path, tmp_path: pathlib.Path, kind: str) -> None:
    folder = _copy(resnet, tmp_path / kind, _damaged(kind, (resnet / "model.safetensors").read_bytes()))
    with pytest.raises(WeightsNotFoundError, match=rf"{folder}: the checkpoint's weights cannot be loaded.*SafetensorError"
                                                   r".*huggingface-cli download microsoft/resnet-50 --local-dir DIR"):
        create_model("resnet-hf", path=str(folder))


def test_resnet_loads_the_same_vectors_twice(resnet: pathlib.Path) -> None:
    # The checked load does not change a good folder: two loads, one vector.
    img = np.random.RandomState(0).randint(0, 255, (40, 40, 3), np.uint8)
    from PIL import Image

    a, b = (create_model("resnet-hf", path=str(resnet)).encode_images([Image.fromarray(img)]) for _ in range(2))
    np.testing.assert_array_equal(a, b)


# -- ViT, DINOv2, CLIP: a half-copied weights file or tokenizer was a bare SafetensorError / JSONDecodeError


@pytest.mark.parametrize("family", ["vit", "dinov2", "clip"])
@pytest.mark.parametrize("kind", ["truncated", "empty"])
def test_damaged_weights_name_the_folder_and_the_download(checkpoints: Ckpts, tmp_path: pathlib.Path, family: str,
                                                          kind: str) -> None:
    src = checkpoints[family]
    folder = _copy(src, tmp_path / family, _damaged(kind, (src / "model.safetensors").read_bytes()))
    with pytest.raises(WeightsNotFoundError, match=rf"{folder}: the checkpoint's weights cannot be loaded.*"
                                                   r"huggingface-cli download \S+ --local-dir DIR") as info:
        create_model(family, checkpoint=str(folder))
    assert type(info.value.__cause__).__name__ == "SafetensorError"  # the parser's own error stays chained


@pytest.mark.parametrize("text", ["{not json", '{"model": {}}'])
def test_damaged_tokenizer_is_weights_not_found(checkpoints: Ckpts, tmp_path: pathlib.Path, text: str) -> None:
    folder = _copy(checkpoints["clip"], tmp_path / "clip")
    (folder / "tokenizer.json").write_text(text)
    with pytest.raises(WeightsNotFoundError, match=rf"{folder}: the checkpoint's tokenizer cannot be loaded.*"
                                                   r"huggingface-cli download openai/clip-vit-base-patch32"):
        create_model("clip", checkpoint=str(folder))


def test_download_line_keeps_a_repo_id_the_user_gave(tmp_path: pathlib.Path) -> None:
    from local_backend.models.hf_checkpoints import Checkpoint
    from local_backend.models.hf_loading import download_line

    assert download_line(Checkpoint(tmp_path, {}, "acme/clip-ft"), "openai/x") == \
        "huggingface-cli download acme/clip-ft --local-dir DIR"
    assert download_line(Checkpoint(tmp_path, {}, str(tmp_path)), "openai/x") == \
        "huggingface-cli download openai/x --local-dir DIR"


def test_a_bug_of_ours_is_not_reported_as_a_bad_download(checkpoints: Ckpts) -> None:
    from local_backend.models.hf_checkpoints import resolve_checkpoint
    from local_backend.models.hf_loading import load_part

    ckpt = resolve_checkpoint(checkpoints["vit"], model_name="vit", example_repo="x/y")

    def buggy(folder: str) -> None:
        raise TypeError("unexpected keyword")

    with pytest.raises(TypeError):
        load_part(ckpt, buggy, what="weights", example_repo="x/y")


def test_a_preprocessor_config_that_does_not_fit_the_patches_is_refused_at_load(checkpoints: Ckpts,
                                                                                 tmp_path: pathlib.Path) -> None:
    folder = _copy(checkpoints["vit"], tmp_path / "vit")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["size"] = 30  # the tiny ViT's patches are 8 px: 30 does not split into them
    config.pop("crop_size", None)
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"30x30 images, which do not split into the model's 8x8 patches"):
        create_model("vit", checkpoint=str(folder))
