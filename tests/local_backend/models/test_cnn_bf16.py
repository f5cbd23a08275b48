"""EfficientNet-Lite0 in bfloat16 (opt-in, ``dtype="bfloat16"``) against the float32 default on
real photos, micro-batching, and the space that keeps the two kinds of vectors apart."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from local_backend.models.efficientnet import (  # noqa: E402
    EARLY_BLOCKS,
    MICRO_BATCH,
    EfficientNetLiteEmbedder,
    InferenceFeatures,
    create_efficientnet_lite0,
)
from vertex_mm.errors import EmulatedBfloat16Warning, InputError  # noqa: E402

# bfloat16 is what these tests check, on any CPU: where it is only emulated it is slower (and
# warned about, checked below), with the same vectors.
pytestmark = pytest.mark.filterwarnings("ignore::vertex_mm.errors.EmulatedBfloat16Warning")

SAMPLE_PHOTOS = pathlib.Path(__file__).resolve().parents[3] / "vertex_mm" / "sample_data" / "photos"


@pytest.fixture(scope="module")
def bf16(effnet: Any) -> EfficientNetLiteEmbedder:
    """A bfloat16 model on the same (shared) network as the float32 fixture."""
    return EfficientNetLiteEmbedder(effnet.net, dtype="bfloat16")


@pytest.fixture(scope="module")
def real_photos(photos: dict[str, Any]) -> list[Any]:
    """scikit-image's photos and the packaged sample photos (textures, a blurred clock, gravel:
    the smooth and busy images where low precision shows first)."""
    from PIL import Image

    files = sorted(SAMPLE_PHOTOS.glob("*.jpg"))
    assert len(files) >= 10, f"sample photos missing under {SAMPLE_PHOTOS}"
    return list(photos.values()) + [Image.open(f).convert("RGB") for f in files]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray((a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1))


@pytest.mark.slow
def test_bf16_vectors_keep_cosine_0999_to_float32_on_real_photos(effnet, bf16, real_photos) -> None:
    ref = effnet.encode_images(real_photos)
    low = bf16.encode_images(real_photos)
    assert low.dtype == np.float32 and low.shape == ref.shape
    cos = _cosines(ref, low)
    assert cos.min() >= 0.999, f"worst photo #{int(cos.argmin())}: cosine {cos.min():.5f}"
    assert not np.array_equal(ref, low)  # bfloat16 really ran (else the test proves nothing)


@pytest.mark.slow
def test_bf16_everywhere_would_break_0999_which_is_why_early_blocks_stay_float32(effnet, real_photos) -> None:
    net = effnet.net
    everything = EfficientNetLiteEmbedder(net, dtype="bfloat16")
    whole = InferenceFeatures(net, torch.bfloat16, 0)
    whole.early = torch.nn.Sequential()  # the stem too
    whole.late = copy.deepcopy(torch.nn.Sequential(net.stem, *net.blocks, net.head)).to(torch.bfloat16)
    everything.embedding_features = whole
    cos = _cosines(effnet.encode_images(real_photos), everything.encode_images(real_photos))
    assert cos.min() < 0.999


def test_bf16_is_opt_in_and_has_its_own_space(effnet, bf16) -> None:
    assert effnet.dtype == "float32" and effnet.space_tag == ""
    assert bf16.space_tag == "bf16" and bf16.compute_dtype == torch.bfloat16
    from local_backend.embedder import LocalEmbedder

    assert LocalEmbedder(bf16).space(512) != LocalEmbedder(effnet).space(512)
    assert "bf16" in LocalEmbedder(bf16).space(512).variant
    logits_bf16 = EfficientNetLiteEmbedder(effnet.net, layer="logits", dtype="bfloat16")
    assert logits_bf16.space_tag == "logits-bf16"


def test_bf16_model_keeps_the_float32_network_and_class_scores(effnet, bf16, photos) -> None:
    batch = np.stack([effnet.prepare_image(p) for p in photos.values()])
    np.testing.assert_array_equal(bf16.logits_prepared(batch), effnet.logits_prepared(batch))
    assert all(p.dtype == torch.float32 for p in effnet.net.parameters())
    first_late = bf16.embedding_features.late[0]
    assert next(first_late.parameters()).dtype == torch.bfloat16
    assert len(bf16.embedding_features.early) == 1 + EARLY_BLOCKS


def test_bf16_regions_are_float32_unit_rows_close_to_float32(effnet, bf16, photos) -> None:
    imgs = [photos["chelsea"], photos["coffee"]]
    for ref, low in zip(effnet.encode_image_regions(imgs), bf16.encode_image_regions(imgs)):
        assert low.shape == (49, 1280) and low.dtype == np.float32
        assert np.allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
        assert _cosines(ref, low).mean() > 0.995


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_micro_batching_does_not_change_the_vectors(effnet, photos, dtype) -> None:
    batch = np.stack([effnet.prepare_image(p) for p in photos.values()] * 2)  # 8 images
    one = EfficientNetLiteEmbedder(effnet.net, dtype=dtype, micro_batch=1).encode_prepared(batch)
    assert MICRO_BATCH < len(batch)
    for step in (3, MICRO_BATCH, len(batch)):
        other = EfficientNetLiteEmbedder(effnet.net, dtype=dtype, micro_batch=step).encode_prepared(batch)
        np.testing.assert_allclose(other, one, atol=2e-6 if dtype == "float32" else 2e-3)


def test_dtype_and_micro_batch_are_checked_with_typed_errors(effnet) -> None:
    with pytest.raises(InputError, match="float16"):
        EfficientNetLiteEmbedder(effnet.net, dtype="float16")
    with pytest.raises(InputError, match="dtype"):
        EfficientNetLiteEmbedder(effnet.net, dtype="int8")
    with pytest.raises(InputError, match="micro_batch"):
        EfficientNetLiteEmbedder(effnet.net, micro_batch=0)


def test_auto_follows_the_cpu(effnet, monkeypatch) -> None:
    import local_backend.device as device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert EfficientNetLiteEmbedder(effnet.net, dtype="auto").space_tag == ""
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert EfficientNetLiteEmbedder(effnet.net, dtype="auto").space_tag == "bf16"


def test_bfloat16_on_a_cpu_that_emulates_it_is_warned_about(effnet, monkeypatch) -> None:
    import warnings

    import local_backend.device as device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(EmulatedBfloat16Warning, match="dtype='auto' picks float32") as caught:
        EfficientNetLiteEmbedder(effnet.net, dtype="bfloat16")
    assert caught[0].filename == __file__  # the user's line, not the library's
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmulatedBfloat16Warning)  # this module ignores it otherwise
        EfficientNetLiteEmbedder(effnet.net, dtype="auto")  # float32 here: nothing to warn about
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
        EfficientNetLiteEmbedder(effnet.net, dtype="bfloat16")  # native: no warning


def test_factory_takes_dtype(photos) -> None:
    model = create_efficientnet_lite0(dtype="bfloat16", micro_batch=2)
    assert model.space_tag == "bf16" and model.micro_batch == 2
    assert model.encode_images([photos["rocket"]]).shape == (1, 1280)
