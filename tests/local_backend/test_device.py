"""``get_embedder("local", device=...)`` on a machine without a GPU: "cpu" works, "auto" is the
CPU, "cuda" falls back with a DeviceFallbackWarning to the very same model and vectors, a bad
name is an InputError; where CUDA would be used, the placement of weights and inputs is checked
on torch's "meta" device (shapes only, no kernels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tiny_hf_checkpoints as cv  # noqa: E402  (tests/support is on sys.path)
from device_checks import one_device  # noqa: E402

checkpoints = cv.checkpoints

from local_backend import create_local_embedder  # noqa: E402
from local_backend.device import DeviceFallbackWarning  # noqa: E402
from local_backend.models import registry  # noqa: E402
from local_backend.models.efficientnet import EfficientNetLite, EfficientNetLiteEmbedder  # noqa: E402
from local_backend.models.vit import ViTImageModel, load_vit_encoder  # noqa: E402
from vertex_mm import get_embedder  # noqa: E402
from vertex_mm.errors import InputError  # noqa: E402

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback on a machine without CUDA")
META = torch.device("meta")


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered model whose factory takes no device (removed after the test)."""
    registry.list_models()  # scan the packaged configs first
    monkeypatch.setattr(registry, "_configs", dict(registry._configs))
    monkeypatch.setattr(registry, "_shared", {})
    registry.register_model_config({"name": "cpu-only", "factory": "device_checks:cpu_only_model",
                                    "modalities": ["text"], "native_dim": 8})
    return "cpu-only"


def test_cpu_and_auto_use_the_shared_cpu_model_without_a_warning(conse, jpegs) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceFallbackWarning)
        cpu = get_embedder("local", device="cpu")
        auto = get_embedder("local")
    assert cpu.local_model is conse
    assert conse.image_model.device.type == "cpu" and conse.text_model.device.type == "cpu"
    if not torch.cuda.is_available():
        assert auto.local_model is conse
    np.testing.assert_array_equal(cpu.embed_images([jpegs["chelsea"]], dimension=128),
                                  get_embedder("local", device="cpu").embed_images([jpegs["chelsea"]], dimension=128))


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_warns_and_gives_the_cpu_vectors(conse, jpegs, device) -> None:
    with pytest.warns(DeviceFallbackWarning, match=rf"device='{device}' was requested but torch sees no CUDA GPU"):
        emb = get_embedder("local", device=device)
    assert emb.local_model is conse  # the same instance: no second copy of the weights
    cpu = get_embedder("local", device="cpu")
    np.testing.assert_array_equal(emb.embed_images([jpegs["coffee"]], dimension=256),
                                  cpu.embed_images([jpegs["coffee"]], dimension=256))
    np.testing.assert_array_equal(emb.embed_texts(["a cat"], dimension=256), cpu.embed_texts(["a cat"], dimension=256))


@pytest.mark.parametrize("bad", ["tpu", "gpu", "cuda:", "cuda:one", "", None, 1])
def test_a_bad_device_is_an_input_error_naming_it_and_the_allowed_ones(bad) -> None:
    with pytest.raises(InputError, match=r"device must be one of \('auto', 'cpu', 'cuda'\) or 'cuda:N'") as info:
        get_embedder("local", device=bad)
    assert repr(bad) in str(info.value) and info.value.input_name == "device"


def test_a_ready_model_object_takes_only_auto(conse) -> None:
    assert create_local_embedder(conse).local_model is conse
    with pytest.raises(InputError, match="ready model object runs where it was built"):
        create_local_embedder(conse, device="cpu")


def test_a_factory_without_device_is_called_without_it(cpu_only) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceFallbackWarning)
        emb = get_embedder("local", model=cpu_only, device="cpu")
    assert emb.embed_texts(["ab"], dimension=128).shape == (1, 128)
    with pytest.warns(DeviceFallbackWarning, match="takes no device argument"):
        registry.create_model(cpu_only, device="cuda")


def test_with_cuda_reported_available_a_cuda_request_reaches_the_factory(cpu_only, monkeypatch) -> None:
    # Device objects only: the factory here runs no torch at all.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.warns(DeviceFallbackWarning, match=r"'cpu-only' .* takes no device argument; device='cuda' ignored"):
        emb = get_embedder("local", model=cpu_only, device="cuda")
    assert emb.embed_texts(["ab"], dimension=128).shape == (1, 128)


def test_auto_on_a_gpu_machine_does_not_warn_about_a_factory_without_device(cpu_only, monkeypatch) -> None:
    # Nobody asked for the GPU: the plugin is built as it is, silently.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceFallbackWarning)
        emb = get_embedder("local", model=cpu_only, device="auto")
    assert emb.embed_texts(["ab"], dimension=128).shape == (1, 128)


def test_the_cnn_on_another_device_gets_its_inputs_there(photos) -> None:
    model = EfficientNetLiteEmbedder(EfficientNetLite(), device=META)
    assert {p.device for p in model.net.parameters()} == {META}
    batch = np.stack([model.prepare_image(photos["chelsea"]), model.prepare_image(photos["rocket"])])
    with one_device():
        x = model.to_tensor(batch)
        fmap = model.forward_features(x)
    assert x.device == META and x.dtype == torch.float32 and tuple(fmap.shape) == (2, 1280, 7, 7)


def test_the_cpu_path_makes_no_copy_of_the_input(photos, effnet) -> None:
    batch = np.stack([effnet.prepare_image(photos["chelsea"])])
    x = torch.from_numpy(batch)
    assert x.to(effnet.device).data_ptr() == x.data_ptr()  # what to_tensor does first


@pytest.mark.parametrize("family", ["vit", "clip"])
def test_the_vit_encoder_moves_its_cls_token_and_positions_with_it(checkpoints, family) -> None:
    encoder, preprocess, _ = load_vit_encoder(checkpoints[family])
    model = ViTImageModel(encoder, preprocess, name=f"tiny-{family}", device=META)
    # Both live in the checkpoint's embedding module, which the encoder does not register.
    assert model.encoder.parts.cls_token.device == META and model.encoder.parts.positions.device == META
    side = int(encoder.patch_size) * 4
    with one_device():
        out = model.encoder(torch.zeros(2, 3, side, side, device=META), model.pooling, model.project)
    assert out.device == META and tuple(out.shape) == (2, model.native_dim)


def test_ieee_float32_turns_tf32_off_for_cuda_and_restores_the_users_settings() -> None:
    import torch

    from local_backend.device import ieee_float32

    knobs = (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn)
    before = [k.fp32_precision for k in knobs]
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # what a user's "fast" setting looks like
    users = [before[0], "tf32", before[2]]
    try:
        with ieee_float32(torch.device("cuda")):
            assert [k.fp32_precision for k in knobs] == ["ieee"] * 3
        assert [k.fp32_precision for k in knobs] == users
        with pytest.raises(RuntimeError), ieee_float32("cuda:1"):
            raise RuntimeError("a failed forward")
        assert [k.fp32_precision for k in knobs] == users
    finally:
        for k, value in zip(knobs, before):
            k.fp32_precision = value


def test_ieee_float32_blocks_that_overlap_restore_the_users_settings_once_the_last_one_ends() -> None:
    # Two forwards on two threads: the second block starts before the first ends. Saving per
    # block would let the first restore TF32 under the second, and the second restore "ieee".
    import torch

    from local_backend.device import ieee_float32

    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "tf32"
    try:
        first, second = ieee_float32("cuda"), ieee_float32("cuda")
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert conv.fp32_precision == "ieee"  # the second block is still running
        second.__exit__(None, None, None)
        assert conv.fp32_precision == "tf32"
    finally:
        conv.fp32_precision = before


def test_ieee_float32_leaves_the_settings_alone_on_the_cpu() -> None:
    import torch

    from local_backend.device import ieee_float32

    before = torch.backends.cudnn.conv.fp32_precision
    with ieee_float32(torch.device("cpu")):
        assert torch.backends.cudnn.conv.fp32_precision == before
