"""Our ViT path (patchify + the checkpoint's layers) against transformers' own forward, for tiny
real ViT, CLIP, SigLIP and DINOv2 checkpoints saved to disk and loaded from the folder."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


import tiny_hf_checkpoints as cv  # noqa: E402  (tests/support is on sys.path)

checkpoints = cv.checkpoints

from local_backend.models.base import LocalModel  # noqa: E402
from local_backend.models.vit import create_vit, load_vit_encoder, resize_positions  # noqa: E402
from vertex_mm.errors import InputError  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def photos():
    return [p.convert("RGB") for p in cv.test_photos()]


def _pixels(folder, photos):
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    return torch.from_numpy(processor(photos, return_tensors="np")["pixel_values"])


def _hf(cls, folder):
    return cls.from_pretrained(str(folder), local_files_only=True).eval()


def _ours(folder, pooling, project=True):
    encoder, _, _ = load_vit_encoder(folder)
    with torch.inference_mode():
        return lambda px: encoder(px, pooling, project)


# (family, transformers class, pooling, reference output of that class's forward)
CASES = [
    ("vit", "ViTModel", "cls", lambda m, px: m(pixel_values=px).last_hidden_state[:, 0]),
    ("vit", "ViTModel", "mean", lambda m, px: m(pixel_values=px).last_hidden_state[:, 1:].mean(1)),
    ("vit", "ViTModel", "head", lambda m, px: m(pixel_values=px).pooler_output),
    ("clip", "CLIPModel", "cls", lambda m, px: m.get_image_features(pixel_values=px).pooler_output),
    ("siglip", "SiglipModel", "head", lambda m, px: m.get_image_features(pixel_values=px).pooler_output),
    ("siglip", "SiglipModel", "mean", lambda m, px: m.get_image_features(pixel_values=px).last_hidden_state.mean(1)),
    ("dinov2", "Dinov2Model", "cls", lambda m, px: m(pixel_values=px).pooler_output),
    ("dinov2", "Dinov2Model", "mean", lambda m, px: m(pixel_values=px).last_hidden_state[:, 1:].mean(1)),
]


@pytest.mark.parametrize("family,cls_name,pooling,reference", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_our_patchify_path_matches_transformers_forward(checkpoints, photos, family, cls_name, pooling, reference):
    folder = checkpoints[family]
    pixels = _pixels(folder, photos)
    model = _hf(getattr(transformers, cls_name), folder)
    with torch.inference_mode():
        expected = reference(model, pixels)
        ours = _ours(folder, pooling)(pixels)
    torch.testing.assert_close(ours, expected, **TOL)


def test_clip_vision_tower_without_projection_is_the_pooled_output(checkpoints, photos):
    folder = checkpoints["clip"]
    pixels = _pixels(folder, photos)
    with torch.inference_mode():
        expected = _hf(transformers.CLIPModel, folder).vision_model(pixel_values=pixels).pooler_output
        ours = _ours(folder, "cls", project=False)(pixels)
    torch.testing.assert_close(ours, expected, **TOL)


@pytest.mark.parametrize("family", ["vit", "clip", "siglip", "dinov2"])
def test_our_preprocessing_equals_the_checkpoints_image_processor(checkpoints, photos, family):
    _, preprocess, _ = load_vit_encoder(checkpoints[family])
    np.testing.assert_allclose(preprocess(photos), _pixels(checkpoints[family], photos).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("family,cls_name", [("vit", "ViTModel"), ("dinov2", "Dinov2Model"), ("siglip", "SiglipModel")])
def test_local_model_returns_unit_vectors_equal_to_transformers(checkpoints, photos, family, cls_name):
    folder = checkpoints[family]
    model = create_vit(folder, name=f"tiny-{family}")
    hf = _hf(getattr(transformers, cls_name), folder)
    with torch.inference_mode():
        pixels = _pixels(folder, photos)
        out = hf(pixel_values=pixels) if family != "siglip" else hf.get_image_features(pixel_values=pixels)
    ref = out.pooler_output if family != "vit" else out.last_hidden_state[:, 0]
    ref = torch.nn.functional.normalize(ref, dim=-1).numpy()
    vecs = model.encode_images(cv.test_photos())  # grayscale included: the model converts to RGB
    assert isinstance(model, LocalModel)
    assert vecs.dtype == np.float32 and vecs.shape == (len(photos), model.native_dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(vecs, ref, **TOL)


def test_batches_give_the_same_vectors_as_one_pass(checkpoints, photos):
    whole = create_vit(checkpoints["clip"], batch_size=16).encode_images(photos)
    one_by_one = create_vit(checkpoints["clip"], batch_size=1).encode_images(photos)
    np.testing.assert_allclose(one_by_one, whole, **TOL)


def test_an_empty_list_gives_an_empty_matrix(checkpoints):
    model = create_vit(checkpoints["dinov2"])
    assert model.encode_images([]).shape == (0, model.native_dim)


def test_regions_are_one_unit_vector_per_patch_in_row_major_order(checkpoints, photos):
    model = create_vit(checkpoints["vit"], pooling="mean")
    regions = model.encode_image_regions(photos[:2])
    assert [r.shape for r in regions] == [((cv.IMAGE // cv.PATCH) ** 2, model.native_dim)] * 2
    np.testing.assert_allclose(np.linalg.norm(regions[0], axis=1), 1.0, rtol=1e-6)
    # Mean pooling is the mean of the same (unnormalised) patch tokens.
    encoder = model.encoder
    with torch.inference_mode():
        tokens = encoder.tokens(torch.from_numpy(model.preprocess(photos[:1])))[0, 1:]
    np.testing.assert_allclose(regions[0], torch.nn.functional.normalize(tokens, dim=-1).numpy(), **TOL)


def test_image_only_models_refuse_text_with_a_typed_error(checkpoints):
    with pytest.raises(InputError, match="no text tower"):
        create_vit(checkpoints["vit"]).encode_texts(["a cat"])


def test_siglip_has_no_cls_token(checkpoints):
    with pytest.raises(ValueError, match="no CLS token"):
        create_vit(checkpoints["siglip"], pooling="cls")


def test_a_vit_without_trained_pooler_refuses_head_pooling(tmp_path):
    folder = cv.build_vit(tmp_path / "no-pooler", pooler=False)
    assert create_vit(folder).pooling == "cls"
    with pytest.raises(ValueError, match="no pooling head"):
        create_vit(folder, pooling="head")


def test_unknown_pooling_is_refused(checkpoints):
    with pytest.raises(ValueError, match="pooling must be one of"):
        create_vit(checkpoints["vit"], pooling="max")


def test_space_tag_tells_checkpoints_and_poolings_apart(checkpoints, tmp_path):
    a = create_vit(checkpoints["vit"], pooling="cls").space_tag
    b = create_vit(checkpoints["vit"], pooling="mean").space_tag
    c = create_vit(checkpoints["dinov2"], pooling="cls").space_tag
    assert len({a, b, c}) == 3


def test_position_table_is_kept_when_the_grid_matches_and_resized_otherwise():
    table = torch.randn(1, 1 + 16, 8)
    assert resize_positions(table, 1, (4, 4)) is table
    resized = resize_positions(table, 1, (2, 6))
    assert resized.shape == (1, 1 + 12, 8)
    assert torch.equal(resized[:, 0], table[:, 0])  # the CLS position is never resized


def test_weights_that_do_not_fit_the_config_are_reported_as_damaged(checkpoints, tmp_path):
    import json
    import shutil

    from vertex_mm.errors import WeightsNotFoundError

    folder = tmp_path / "vit-3-layers"
    shutil.copytree(checkpoints["vit"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 3  # the weights hold 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsNotFoundError, match="incomplete or damaged"):
        create_vit(folder)


def test_the_vit_path_reads_clip_vision_checkpoints_in_clip_space(checkpoints, photos):
    from local_backend.models.hf_clip import create_clip

    image_only = create_vit(checkpoints["clip"])
    assert image_only.native_dim == 16 and image_only.modalities == frozenset({"image"})
    np.testing.assert_allclose(image_only.encode_images(photos), create_clip(checkpoints["clip"]).encode_images(photos), **TOL)
