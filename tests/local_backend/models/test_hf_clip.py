"""CLIP / SigLIP checkpoints as joint LocalModels: our vectors equal transformers'
get_image_features / get_text_features (normalised) for tiny real checkpoints on disk."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


import tiny_hf_checkpoints as cv  # noqa: E402  (tests/support is on sys.path)

checkpoints = cv.checkpoints

from local_backend.models.base import LocalModel  # noqa: E402
from local_backend.models.hf_clip import create_clip, create_siglip  # noqa: E402
from vertex_mm.errors import InputError, WeightsNotFoundError  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)
CREATE = {"clip": create_clip, "siglip": create_siglip}
HF_CLASS = {"clip": "CLIPModel", "siglip": "SiglipModel"}


@pytest.fixture(scope="module")
def photos():
    return [p.convert("RGB") for p in cv.test_photos()]


def _reference(folder, family):
    model = getattr(transformers, HF_CLASS[family]).from_pretrained(str(folder), local_files_only=True).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return model, processor, tokenizer


def _unit(t):
    return torch.nn.functional.normalize(t, dim=-1).numpy()


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_image_vectors_equal_normalised_get_image_features(checkpoints, photos, family):
    model, processor, _ = _reference(checkpoints[family], family)
    with torch.inference_mode():
        expected = model.get_image_features(**processor(photos, return_tensors="pt")).pooler_output
    ours = CREATE[family](checkpoints[family]).encode_images(photos)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, _unit(expected), **TOL)


def test_clip_text_vectors_equal_normalised_get_text_features(checkpoints):
    model, _, tokenizer = _reference(checkpoints["clip"], "clip")
    with torch.inference_mode():
        expected = model.get_text_features(**tokenizer(cv.CAPTIONS, padding=True, return_tensors="pt")).pooler_output
    ours = create_clip(checkpoints["clip"]).encode_texts(cv.CAPTIONS)
    np.testing.assert_allclose(ours, _unit(expected), **TOL)


def test_siglip_text_vectors_equal_get_text_features_with_max_length_padding(checkpoints):
    model, _, tokenizer = _reference(checkpoints["siglip"], "siglip")
    ids = tokenizer(cv.CAPTIONS, padding="max_length", truncation=True, max_length=16, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        expected = model.get_text_features(input_ids=ids).pooler_output
    ours = create_siglip(checkpoints["siglip"]).encode_texts(cv.CAPTIONS)
    np.testing.assert_allclose(ours, _unit(expected), **TOL)


def test_siglip_pads_every_text_to_the_full_context(checkpoints):
    model = create_siglip(checkpoints["siglip"])
    assert model.tokenize(["a cat", "a rocket on the launch pad"])["input_ids"].shape == (2, model.max_tokens)


def test_clip_text_vector_does_not_depend_on_the_rest_of_the_batch(checkpoints):
    model = create_clip(checkpoints["clip"])
    alone = model.encode_texts(["a cat"])
    batched = model.encode_texts(["a cat", "a much longer caption about a rocket on its pad"])
    np.testing.assert_allclose(batched[:1], alone, **TOL)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_joint_model_meets_the_local_model_contract(checkpoints, family):
    model = CREATE[family](checkpoints[family])
    assert isinstance(model, LocalModel)
    assert model.modalities == frozenset({"image", "text"})
    assert model.encode_texts([]).shape == (0, model.native_dim)
    assert model.encode_texts(["x"]).shape == model.encode_images(cv.test_photos()[:1]).shape


def test_logit_scale_and_bias_come_from_the_checkpoint(checkpoints):
    clip, _, _ = _reference(checkpoints["clip"], "clip")
    assert create_clip(checkpoints["clip"]).logit_scale == pytest.approx(float(clip.logit_scale.detach().exp()))
    siglip, _, _ = _reference(checkpoints["siglip"], "siglip")
    assert create_siglip(checkpoints["siglip"]).logit_bias == pytest.approx(float(siglip.logit_bias.detach()))


def test_missing_checkpoint_says_where_it_looked_and_how_to_get_weights(tmp_path):
    missing = tmp_path / "clip-weights"
    with pytest.raises(WeightsNotFoundError) as info:
        create_clip(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "huggingface-cli download openai/clip-vit-base-patch32 --local-dir DIR" in message
    assert 'get_embedder("local", model="clip", checkpoint="DIR")' in message


def test_a_clip_folder_without_tokenizer_is_refused_before_loading(checkpoints, tmp_path):
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(checkpoints["clip"], folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    with pytest.raises(WeightsNotFoundError, match="no tokenizer files"):
        create_clip(folder)


def test_a_siglip_folder_is_not_a_clip_checkpoint(checkpoints):
    with pytest.raises(InputError, match="'siglip' model"):
        create_clip(checkpoints["siglip"])


def test_loads_from_the_hf_cache_by_repo_id(checkpoints, tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--openai--clip-vit-base-patch32" / "snapshots" / "0123abcd"
    shutil.copytree(checkpoints["clip"], snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    model = create_clip("openai/clip-vit-base-patch32")
    assert model.checkpoint_path == snapshot.resolve()
    np.testing.assert_allclose(model.encode_texts(["a cat"]), create_clip(checkpoints["clip"]).encode_texts(["a cat"]), **TOL)


# -- through the registry and get_embedder ----------------------------------------------------------
@pytest.mark.parametrize(
    "name,repo",
    [
        ("clip", "openai/clip-vit-base-patch32"),
        ("siglip", "google/siglip-base-patch16-224"),
        ("vit", "google/vit-base-patch16-224-in21k"),
        ("dinov2", "facebook/dinov2-small"),
    ],
)
def test_registry_models_without_local_weights_say_how_to_get_them(tmp_path, monkeypatch, name, repo):
    from local_backend.models.registry import create_model

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    with pytest.raises(WeightsNotFoundError) as info:
        create_model(name)
    message = str(info.value)
    assert f"huggingface-cli download {repo} --local-dir DIR" in message
    assert f'model="{name}", checkpoint="DIR"' in message
    assert str(tmp_path / "hub") in message


def test_get_embedder_local_clip_puts_images_and_texts_in_one_space(checkpoints, photos, tmp_path):
    from vertex_mm import Image as VImage
    from vertex_mm import get_embedder

    photo = tmp_path / "cat.jpg"
    photos[1].save(photo)
    emb = get_embedder("local", model="clip", checkpoint=str(checkpoints["clip"]))
    model = emb.local_model
    response = emb.get_embeddings(image=VImage.load_from_file(str(photo)), contextual_text="a tabby cat", dimension=512)
    image, text = response.as_array("image"), response.as_array("text")
    assert image.shape == text.shape == (512,)
    # 16-d native vectors go up to 512 by an orthonormal map: the cosine is the model's own.
    from PIL import Image as PILImage

    native_cos = float(model.encode_images([PILImage.open(photo).convert("RGB")])[0] @ model.encode_texts(["a tabby cat"])[0])
    assert float(image @ text) == pytest.approx(native_cos, abs=1e-5)
    assert model.space_tag in emb.space(512).id
    assert emb.space(512) != get_embedder("local", model="siglip", checkpoint=str(checkpoints["siglip"])).space(512)


@pytest.mark.slow
def test_siglip_without_sentencepiece_names_the_missing_package(checkpoints, tmp_path):
    import subprocess
    import textwrap

    # A stand-in that fails to import exactly like an absent package, in a fresh interpreter.
    (tmp_path / "sentencepiece.py").write_text(
        'raise ModuleNotFoundError("No module named sentencepiece", name="sentencepiece")\n')
    script = textwrap.dedent(f"""
        from local_backend.models.hf_clip import create_siglip
        from vertex_mm.errors import MissingDependencyError
        try:
            create_siglip({str(checkpoints["siglip"])!r})
        except MissingDependencyError as exc:
            print("MISSING:", exc)
    """)
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240)
    assert "MISSING:" in out.stdout and "pip install sentencepiece" in out.stdout, out.stderr[-2000:]
