"""Contrastive training of projection heads on frozen towers: data reading, learning (the loss
falls, text->image recall rises on real photos), saving and loading back bit-identical."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")


import tiny_hf_checkpoints as cv  # noqa: E402  (tests/support is on sys.path)

checkpoints = cv.checkpoints

from local_backend.training.data import read_pairs  # noqa: E402
from local_backend.training.projected_model import create_projected  # noqa: E402
from local_backend.training.projection_heads import load_heads, metadata_path, save_heads  # noqa: E402
from local_backend.training.train import TrainConfig, fit_heads, similarity_recall_at_k, towers_for, train_projection  # noqa: E402
from vertex_mm.errors import InputError, InvalidImageError, InvalidTextError, WeightsNotFoundError  # noqa: E402

FAST = dict(epochs=200, lr=1e-2, dim=16)


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    return cv.write_photo_set(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def tiny_features(checkpoints, photo_set):
    """Frozen features of the photo set from a tiny real CLIP checkpoint (both towers)."""
    from local_backend.models.hf_clip import create_clip

    pairs = read_pairs(*photo_set)
    model = create_clip(checkpoints["clip"])
    return model.encode_images(pairs.images), model.encode_texts(pairs.captions), pairs.image_of_pair


# -- data -----------------------------------------------------------------------------------------
def test_read_pairs_reads_each_line_and_decodes_each_image_once(photo_set, tmp_path):
    images, captions = photo_set
    extra = tmp_path / "captions.jsonl"
    extra.write_text(captions.read_text() + '\n{"file": "chelsea.jpg", "caption": "a cat with green eyes"}\n')
    pairs = read_pairs(images, extra)
    assert len(pairs) == len(cv.PHOTO_CAPTIONS) + 1
    assert len(pairs.images) == len(cv.PHOTO_CAPTIONS)
    assert pairs.image_of_pair[-1] == pairs.image_files.index("chelsea.jpg")
    assert all(img.mode == "RGB" for img in pairs.images)


def test_bad_lines_become_typed_errors_naming_the_line_and_the_rest_goes_on(photo_set, tmp_path):
    images, _ = photo_set
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    lines = [
        '{"file": "coffee.jpg", "caption": "coffee"}',
        "{not json",
        '{"file": "coffee.jpg"}',
        '{"file": "absent.jpg", "caption": "nothing"}',
        '{"file": "rocket.jpg", "caption": "  "}',
        f'{{"file": "{tmp_path / "broken.jpg"}", "caption": "broken"}}',
        "",
        '{"file": "rocket.jpg", "caption": "a rocket"}',
    ]
    captions = tmp_path / "mixed.jsonl"
    captions.write_text("\n".join(lines))
    pairs = read_pairs(images, captions)
    assert pairs.captions == ["coffee", "a rocket"]
    kinds = [type(e) for e in pairs.errors]
    assert kinds == [InputError, InputError, InputError, InvalidTextError, InvalidImageError]
    assert [str(e).split(":")[1] for e in pairs.errors[:4]] == ["2", "3", "4", "5"]
    assert "absent.jpg does not exist" in str(pairs.errors[2])


def test_a_decompression_bomb_is_that_lines_error(photo_set, tmp_path):
    from factories import decompression_bomb_png

    from vertex_mm.errors import ImageTooLargeError

    (tmp_path / "bomb.png").write_bytes(decompression_bomb_png(100_000, 100_000))  # claims 10 Gpixel
    captions = tmp_path / "bomb.jsonl"
    captions.write_text(f'{{"file": "{tmp_path / "bomb.png"}", "caption": "boom"}}\n'
                        '{"file": "coffee.jpg", "caption": "coffee"}\n')
    pairs = read_pairs(photo_set[0], captions)
    assert pairs.captions == ["coffee"]
    assert [type(e) for e in pairs.errors] == [ImageTooLargeError] and ":1: image" in str(pairs.errors[0])


def test_no_usable_pair_is_an_input_error(photo_set, tmp_path):
    captions = tmp_path / "bad.jsonl"
    captions.write_text('{"file": "absent.jpg", "caption": "x"}\n')
    with pytest.raises(InputError, match="no usable image-caption pairs.*absent.jpg"):
        read_pairs(photo_set[0], captions)


def test_a_missing_images_folder_is_named(tmp_path):
    (tmp_path / "c.jsonl").write_text("")
    with pytest.raises(InputError, match="images folder .*nowhere does not exist"):
        read_pairs(tmp_path / "nowhere", tmp_path / "c.jsonl")


# -- learning -------------------------------------------------------------------------------------
def test_recall_at_k_counts_targets_among_the_k_nearest():
    keys = np.eye(3, dtype=np.float32)
    queries = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0.4, 0.6]], dtype=np.float32)
    assert similarity_recall_at_k(queries, keys, [0, 1, 2], k=1) == pytest.approx(2 / 3)
    assert similarity_recall_at_k(queries, keys, [0, 1, 2], k=2) == pytest.approx(1.0)


@pytest.mark.parametrize("loss", ["clip", "siglip"])
@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_training_lowers_the_loss_and_raises_text_to_image_recall(tiny_features, loss, head):
    images, texts, image_of_pair = tiny_features
    result = fit_heads(images, texts, image_of_pair, TrainConfig(loss=loss, head=head, **FAST))
    assert result.loss_after < 0.5 * result.loss_before
    assert result.recall_after > result.recall_before
    assert result.recall_after >= 0.75
    assert len(result.epoch_losses) == FAST["epochs"]
    assert result.epoch_losses[-1] < result.epoch_losses[0]


def test_training_is_reproducible_with_a_seed(tiny_features):
    a = fit_heads(*tiny_features, TrainConfig(epochs=5, dim=8, batch_size=4, seed=3))
    b = fit_heads(*tiny_features, TrainConfig(epochs=5, dim=8, batch_size=4, seed=3))
    assert a.epoch_losses == b.epoch_losses


def test_fewer_than_two_pairs_cannot_be_contrasted():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        fit_heads(np.ones((1, 4)), np.ones((1, 4)), [0])


# -- saving and loading ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_saved_heads_load_back_and_give_identical_vectors(tiny_features, tmp_path, suffix):
    images, texts, image_of_pair = tiny_features
    result = fit_heads(images, texts, image_of_pair, TrainConfig(loss="siglip", head="mlp", epochs=10, dim=8))
    path = tmp_path / f"heads{suffix}"
    meta = save_heads(result.heads, path, {"loss": "siglip"})
    loaded, loaded_meta = load_heads(path)
    assert loaded_meta == meta and metadata_path(path).name == "heads.json"
    with torch.no_grad():
        for a, b, x in ((result.heads.image, loaded.image, images), (result.heads.text, loaded.text, texts)):
            assert torch.equal(a(torch.from_numpy(x)), b(torch.from_numpy(x)))
    assert torch.equal(loaded.loss.logit_bias, result.heads.loss.logit_bias)


def test_weights_that_do_not_match_their_metadata_are_refused(tiny_features, tmp_path):
    heads = fit_heads(*tiny_features, TrainConfig(epochs=1, dim=8)).heads
    save_heads(heads, tmp_path / "a.pt", {"loss": "clip"})
    other = fit_heads(*tiny_features, TrainConfig(epochs=1, dim=8, seed=1)).heads
    torch.save({k: v for k, v in other.state_dict().items()}, tmp_path / "a.pt")
    with pytest.raises(InputError, match="differs from"):
        load_heads(tmp_path / "a.pt")


def test_missing_heads_say_how_to_train_them(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="vertex-mm train-projection"):
        load_heads(tmp_path / "heads.pt")
    with pytest.raises(ValueError, match="needs heads=PATH"):
        create_projected()


# -- end to end: train, save, serve through the registry -------------------------------------------
def test_train_projection_then_serve_the_heads_as_a_local_model(checkpoints, photo_set, tmp_path):
    from local_backend.models.registry import create_model

    out = tmp_path / "heads.pt"
    meta = train_projection(*photo_set, out, model="clip", model_params={"checkpoint": str(checkpoints["clip"])},
                            config=TrainConfig(**FAST))
    assert meta["pairs"] == len(cv.PHOTO_CAPTIONS) and meta["skipped_pairs"] == 0
    assert meta["loss_after"] < meta["loss_before"] and meta["recall_at_1_after"] > meta["recall_at_1_before"]
    tower = json.loads(metadata_path(out).read_text())["image_tower"]
    assert tower == {"model": "clip", "params": {"checkpoint": str(checkpoints["clip"])}}

    model = create_model("projected", heads=str(out))
    assert model.native_dim == FAST["dim"] and model.space_tag == "heads-" + meta["weights_sha256"][:12]
    pairs = read_pairs(*photo_set)
    heads, _ = load_heads(out)
    tower = model.image_tower
    with torch.no_grad():
        expected = heads.image(torch.from_numpy(tower.encode_images(pairs.images))).numpy()
    images = model.encode_images(pairs.images)
    np.testing.assert_array_equal(images, expected)
    texts = model.encode_texts(pairs.captions)
    assert similarity_recall_at_k(texts, images, pairs.image_of_pair) == pytest.approx(meta["recall_at_1_after"])


def test_projected_heads_through_get_embedder_carry_their_hash_in_the_space(checkpoints, photo_set, tmp_path):
    from vertex_mm import get_embedder

    out = tmp_path / "heads.safetensors"
    meta = train_projection(*photo_set, out, model="clip", model_params={"checkpoint": str(checkpoints["clip"])},
                            config=TrainConfig(epochs=5, dim=128))
    emb = get_embedder("local", model="projected", heads=str(out))
    space = emb.space(128)
    assert meta["weights_sha256"][:12] in space.id
    vecs = emb.embed_texts(["a tabby cat", "a rocket"], dimension=128)
    model = emb.local_model
    np.testing.assert_allclose(np.asarray(vecs), model.encode_texts(["a tabby cat", "a rocket"]), rtol=1e-5, atol=1e-6)


def test_default_model_trains_over_effnet_features_and_minilm():
    image, text = towers_for("default")
    assert (image.model, text.model) == ("efficientnet-lite0", "minilm-l6")
    assert towers_for("default", text_model="clip")[1].model == "clip"


def test_an_image_only_model_cannot_be_the_text_tower():
    with pytest.raises(ValueError, match="no text tower"):
        towers_for("default", text_model="efficientnet-lite0")


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["clip", "siglip"])
def test_default_towers_learn_the_photo_captions(photo_set, tmp_path, loss):
    """The real towers of the default model (EfficientNet-Lite0 features + MiniLM) on 12 photos."""
    from local_backend.models.registry import create_model

    out = tmp_path / "heads.pt"
    meta = train_projection(*photo_set, out, model="default", config=TrainConfig(loss=loss, epochs=100))
    assert meta["image_in_dim"] == 1280 and meta["text_in_dim"] == 384
    assert meta["loss_after"] < 0.5 * meta["loss_before"]
    assert meta["recall_at_1_after"] > meta["recall_at_1_before"] and meta["recall_at_1_after"] >= 0.9
    model = create_model("projected", heads=str(out))
    pairs = read_pairs(*photo_set)
    again = create_model("projected", heads=str(out))
    np.testing.assert_array_equal(model.encode_texts(pairs.captions), again.encode_texts(pairs.captions))
    texts, images = model.encode_texts(pairs.captions), model.encode_images(pairs.images)
    assert similarity_recall_at_k(texts, images, pairs.image_of_pair) >= 0.9
