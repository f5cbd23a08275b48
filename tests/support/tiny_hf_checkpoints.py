"""Tiny, real Hugging Face checkpoints for the ViT / CLIP / SigLIP / DINOv2 tests.

Each builder makes a random model of the real ``transformers`` class with a tiny config
(width 32, 2 layers, 2 heads, 32 px images, 8 px patches), saves it with ``save_pretrained``
next to a real ``preprocessor_config.json`` (written by the family's own image processor) and,
for the joint models, a real tokenizer of the family's class built offline: CLIP's byte-level
BPE over a character vocabulary, SigLIP's SentencePiece model trained on a few sentences.

Test files ``import tiny_hf_checkpoints`` (``tests/support`` is on ``sys.path``, see pyproject's pytest
``pythonpath``) and re-export the fixtures they use.
"""

from __future__ import annotations

import io
import pathlib
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from PIL import Image  # noqa: E402

WIDTH, LAYERS, HEADS, MLP, IMAGE, PATCH = 32, 2, 2, 37, 32, 8

CAPTIONS = [
    "an astronaut in a white space suit",
    "a tabby cat looking at the camera",
    "a cup of coffee on a saucer",
    "a rocket on the launch pad",
    "a photographer with a camera on a tripod",
    "a pile of old coins",
]


def _quiet() -> None:
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def test_photos() -> list[Image.Image]:
    """Real photographs of different sizes and modes (RGB and grayscale), from scikit-image."""
    data = pytest.importorskip("skimage.data")
    arrays = [data.astronaut(), data.chelsea(), data.coffee(), data.camera()]
    return [Image.fromarray(a) for a in arrays]


test_photos.__test__ = False  # a helper, not a test


# Twelve scikit-image photographs (all shipped with the package, no download) and a caption each.
PHOTO_CAPTIONS = {
    "astronaut": "an astronaut in a space suit next to a flag",
    "chelsea": "a tabby cat",
    "coffee": "a cup of coffee on a saucer",
    "rocket": "a rocket on the launch pad",
    "camera": "a man with a camera on a tripod",
    "coins": "old coins laid out in rows",
    "moon": "the cratered surface of the moon",
    "page": "a page of printed text",
    "hubble_deep_field": "galaxies in deep space",
    "retina": "the retina of a human eye",
    "immunohistochemistry": "stained tissue under a microscope",
    "brick": "a red brick wall",
}


def write_photo_set(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """JPEG files of :data:`PHOTO_CAPTIONS` in ``folder/images`` and ``folder/captions.jsonl``."""
    import json

    data = pytest.importorskip("skimage.data")
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, caption in PHOTO_CAPTIONS.items():
        Image.fromarray(getattr(data, name)()).convert("RGB").save(images / f"{name}.jpg", quality=90)
        lines.append(json.dumps({"file": f"{name}.jpg", "caption": caption}))
    captions = folder / "captions.jsonl"
    captions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return images, captions


def vit_config(**extra: Any) -> dict[str, Any]:
    return dict(hidden_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=MLP,
                image_size=IMAGE, patch_size=PATCH, **extra)


def build_vit(folder: pathlib.Path, *, pooler: bool = True) -> pathlib.Path:
    _quiet()
    torch.manual_seed(0)
    model = transformers.ViTModel(transformers.ViTConfig(**vit_config()), add_pooling_layer=pooler)
    model.save_pretrained(folder)
    transformers.ViTImageProcessorPil(size={"height": IMAGE, "width": IMAGE}).save_pretrained(folder)
    return folder


def build_dinov2(folder: pathlib.Path) -> pathlib.Path:
    """Trained at 64 px but fed 32 px crops, as real DINOv2 (518 vs 224): positions get resized."""
    _quiet()
    torch.manual_seed(1)
    config = transformers.Dinov2Config(hidden_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                       mlp_ratio=2, image_size=64, patch_size=PATCH)
    transformers.Dinov2Model(config).save_pretrained(folder)
    crop = {"height": IMAGE, "width": IMAGE}
    transformers.BitImageProcessorPil(size={"shortest_edge": 40}, crop_size=crop).save_pretrained(folder)
    return folder


def clip_tokenizer() -> Any:
    """CLIP's own tokenizer class over a character-level byte-BPE vocabulary (no merges)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = sorted(set(bytes_to_unicode().values()))
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    return transformers.CLIPTokenizer(vocab=vocab, merges=[])


def build_clip(folder: pathlib.Path) -> pathlib.Path:
    _quiet()
    torch.manual_seed(2)
    tok = clip_tokenizer()
    text = dict(hidden_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=MLP,
                vocab_size=len(tok), max_position_embeddings=40, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = transformers.CLIPConfig(text_config=text, vision_config=vit_config(), projection_dim=16)
    transformers.CLIPModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    crop = {"height": IMAGE, "width": IMAGE}
    transformers.CLIPImageProcessorPil(size={"shortest_edge": IMAGE}, crop_size=crop).save_pretrained(folder)
    return folder


def siglip_tokenizer(folder: pathlib.Path) -> Any:
    """SigLIP's own SentencePiece tokenizer, over a model trained here on a few sentences."""
    spm = pytest.importorskip("sentencepiece")
    model = io.BytesIO()
    sentences = CAPTIONS * 4 + ["the quick brown fox jumps over the lazy dog", "a photo of a dog"]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model, vocab_size=60,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    (folder / "spiece.model").write_bytes(model.getvalue())
    return transformers.SiglipTokenizer(vocab_file=str(folder / "spiece.model"), model_max_length=16)


def build_siglip(folder: pathlib.Path) -> pathlib.Path:
    _quiet()
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    tok = siglip_tokenizer(folder)
    text = dict(hidden_size=WIDTH, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=MLP,
                vocab_size=len(tok), max_position_embeddings=16, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, bos_token_id=None)
    config = transformers.SiglipConfig(text_config=text, vision_config=vit_config())
    transformers.SiglipModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    transformers.SiglipImageProcessorPil(size={"height": IMAGE, "width": IMAGE}).save_pretrained(folder)
    return folder


BUILDERS = {"vit": build_vit, "clip": build_clip, "siglip": build_siglip, "dinov2": build_dinov2}


class _Checkpoints(dict):
    """Family name -> checkpoint folder, built on first use and kept for the session; a family
    whose optional dependency is missing (SigLIP without sentencepiece) skips only its tests."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self._factory = factory

    def __missing__(self, name: str) -> pathlib.Path:
        folder = self[name] = BUILDERS[name](self._factory.mktemp(f"hf-{name}"))
        return folder


_SHARED: list[_Checkpoints] = []  # one per session, although each test module imports the fixture


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """Tiny saved checkpoints by family ("vit", "clip", "siglip", "dinov2"); tests only read them."""
    if not _SHARED:
        _SHARED.append(_Checkpoints(tmp_path_factory))
    return _SHARED[0]
