"""Tiny random ColPali-family checkpoints built offline from transformers' own classes.

For each family (``colpali``, ``colqwen2``, ``colmodernvbert``) this builds the real
``ColXForRetrieval`` model and ``ColXProcessor`` with a tiny config and a tokenizer of the
family's own class trained here on a few sentences, and saves them with ``save_pretrained``:
what ``huggingface-cli download vidore/colqwen2-v1.0-hf`` gives, only small (under 1.1 MB, built
in well under a second). The recipes and the gotchas behind them (the 1152 ``<loc>``/``<seg>``
tokens a ColPali vocabulary must hold, ``mrope_section`` summing to half the head size, the
Idefics3 row/column tokens) are written up in the ColPali prototype notes.

:func:`processor` and :func:`config` also give the *real-size* architecture (the published
dimensions, random weights) for the embedding benchmark; the tokenizer stays the tiny one, so
only the token ids differ from a real checkpoint.

Nothing imports pytest here: ``benchmarks/bench_colpali_embed.py`` imports this module too.
Test files ``import tiny_colpali_checkpoints`` (``tests/`` is on ``sys.path``, see pyproject's
pytest ``pythonpath``) after ``pytest.importorskip("transformers")``.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import torch
import transformers
from PIL import Image

__all__ = ["FAMILIES", "QUERIES", "build", "config", "make_pages", "model_class", "processor", "processor_class"]

FAMILIES = ("colpali", "colqwen2", "colmodernvbert")

QUERIES = ["a query", "another longer query text about the quick brown fox"]

_CORPUS = [
    "Describe the image.", "Question: a query", "Query: a query", "user\nDescribe the image.",
    "User: Describe the image.\nAssistant:", "another longer query text",
    "the quick brown fox jumps over the lazy dog", "revenue by quarter in the annual report table",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 .,:;?!'\"-()\n",
] * 10

# Idefics3 / ModernVBert markers the ColModernVBert processor looks up (it adds only three itself).
_MVB_SPECIALS = (["<|begin_of_text|>", "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
                 + [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)])
_QWEN_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                  "<|image_pad|>", "<|video_pad|>"]


def model_class(family: str) -> Any:
    return getattr(transformers, {"colpali": "ColPaliForRetrieval", "colqwen2": "ColQwen2ForRetrieval",
                                  "colmodernvbert": "ColModernVBertForRetrieval"}[family])


def processor_class(family: str) -> Any:
    return getattr(transformers, {"colpali": "ColPaliProcessor", "colqwen2": "ColQwen2Processor",
                                  "colmodernvbert": "ColModernVBertProcessor"}[family])


def make_pages(sizes: tuple[tuple[int, int], ...] = ((48, 64), (96, 40), (40, 40))) -> list[Image.Image]:
    """Deterministic RGB 'pages' of different (width, height): different token counts for
    ColQwen2 and ColModernVBert, so a batch of them is padded."""
    rng = np.random.default_rng(0)
    pages = []
    for w, h in sizes:
        arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        arr[: h // 3] = 255  # a white band: not pure noise
        pages.append(Image.fromarray(arr, mode="RGB"))
    return pages


def _tokenizer(family: str) -> Any:
    if family == "colpali":
        # Gemma's own class (BPE + byte fallback); padding_side "left" is its class default.
        return transformers.GemmaTokenizer().train_new_from_iterator([_CORPUS], vocab_size=300)
    if family == "colqwen2":
        tok = transformers.Qwen2Tokenizer().train_new_from_iterator([_CORPUS], vocab_size=400, new_special_tokens=_QWEN_SPECIALS)
        # colpali-engine pads left; the attribute alone is not saved by save_pretrained.
        tok.padding_side = "left"
        tok.init_kwargs["padding_side"] = "left"
        return tok
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    # ModernBERT-style byte-level BPE with a [CLS] $A [SEP] template, as ModernVBERT ships it.
    bert = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    raw = Tokenizer(models.BPE(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(_CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=bert + _MVB_SPECIALS,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    cls_id, sep_id = raw.token_to_id("[CLS]"), raw.token_to_id("[SEP]")
    raw.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                                                pad_token="[PAD]", mask_token="[MASK]", extra_special_tokens=_MVB_SPECIALS)


def processor(family: str, *, real_size: bool = False) -> Any:
    """The family's processor over a tiny tokenizer; ``real_size`` uses the published image settings."""
    tok = _tokenizer(family)
    if family == "colpali":
        side, patch = (448, 14) if real_size else (32, 8)
        images = transformers.SiglipImageProcessorPil(size={"height": side, "width": side}, image_seq_length=(side // patch) ** 2,
                                                      image_mean=[0.5] * 3, image_std=[0.5] * 3)
        return transformers.ColPaliProcessor(image_processor=images, tokenizer=tok)
    if family == "colqwen2":
        patch = 14 if real_size else 4
        # Real: the hub's Qwen2-VL pixel range (3136 .. 12845056 px); tiny: 4 .. 64 visual tokens.
        size = {"shortest_edge": 3136, "longest_edge": 12845056} if real_size else {"shortest_edge": 256, "longest_edge": 4096}
        images = transformers.Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2, size=size)
        return transformers.ColQwen2Processor(image_processor=images, tokenizer=tok)
    crop, longest, seq = (512, 2048, 64) if real_size else (32, 64, 16)
    images = transformers.Idefics3ImageProcessorPil(size={"longest_edge": longest}, max_image_size={"longest_edge": crop},
                                                    do_image_splitting=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return transformers.ColModernVBertProcessor(image_processor=images, tokenizer=tok, image_seq_len=seq)


def config(family: str, proc: Any, *, real_size: bool = False, text_layers: int | None = None) -> Any:
    """A ``ColXConfig`` of the tiny or the real-size architecture, with ``proc``'s token ids.

    ``text_layers`` overrides the language model's depth (the benchmark's memory fallback).
    """
    build_config = {"colpali": _colpali_config, "colqwen2": _colqwen2_config, "colmodernvbert": _colmodernvbert_config}
    return build_config[family](proc, real_size, text_layers)


def _colpali_config(proc: Any, real_size: bool, text_layers: int | None) -> Any:
    # Real: vidore/colpali-v1.3-hf = PaliGemma-3B-448 (SigLIP-So400m + Gemma-2B).
    if real_size:
        vision = transformers.SiglipVisionConfig(
            hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, image_size=448,
            patch_size=14, vision_use_head=False, projector_hidden_act="gelu_fast")
        text = transformers.GemmaConfig(
            hidden_size=2048, intermediate_size=16384, num_hidden_layers=text_layers or 18, num_attention_heads=8,
            num_key_value_heads=1, head_dim=256, vocab_size=257216)
    else:
        vision = transformers.SiglipVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8,
            vision_use_head=False)
        text = transformers.GemmaConfig(
            hidden_size=64, intermediate_size=128, num_hidden_layers=text_layers or 2, num_attention_heads=4,
            num_key_value_heads=1, head_dim=16, vocab_size=1536)
    assert text.vocab_size >= len(proc.tokenizer)  # the processor added 1152 <loc>/<seg> tokens
    vlm = transformers.PaliGemmaConfig(
        vision_config=vision, text_config=text, image_token_index=proc.image_token_id, vocab_size=text.vocab_size,
        projection_dim=text.hidden_size, hidden_size=text.hidden_size)
    return transformers.ColPaliConfig(vlm_config=vlm, embedding_dim=128)


def _colqwen2_config(proc: Any, real_size: bool, text_layers: int | None) -> Any:
    # Real: vidore/colqwen2-v1.0-hf = Qwen2-VL-2B. sum(mrope_section) must be head_dim / 2.
    tid = proc.tokenizer.convert_tokens_to_ids
    common: dict[str, Any] = dict(bos_token_id=tid("<|endoftext|>"), eos_token_id=tid("<|im_end|>"), rms_norm_eps=1e-6)
    vision: dict[str, Any] = dict(spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
    if real_size:
        text = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=text_layers or 28,
                    num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                    rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}, **common)
        vision.update(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4, hidden_size=1536, patch_size=14)
    else:
        text = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=text_layers or 2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                    rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}, **common)
        vision.update(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2, hidden_size=64, patch_size=4)
    vlm = transformers.Qwen2VLConfig(
        text_config=text, vision_config=vision, image_token_id=tid("<|image_pad|>"), video_token_id=tid("<|video_pad|>"),
        vision_start_token_id=tid("<|vision_start|>"), vision_end_token_id=tid("<|vision_end|>"), tie_word_embeddings=real_size)
    return transformers.ColQwen2Config(vlm_config=vlm, embedding_dim=128)


def _colmodernvbert_config(proc: Any, real_size: bool, text_layers: int | None) -> Any:
    # Real: ModernVBERT/colmodernvbert-merged = ettin-encoder-150m (ModernBERT) + siglip2-base-patch16-512.
    tid = proc.tokenizer.convert_tokens_to_ids
    ids = dict(pad_token_id=tid("[PAD]"), bos_token_id=tid("[CLS]"), cls_token_id=tid("[CLS]"),
               eos_token_id=tid("[SEP]"), sep_token_id=tid("[SEP]"))
    if real_size:
        text = transformers.ModernBertConfig(
            vocab_size=50408, hidden_size=768, intermediate_size=1152, num_hidden_layers=text_layers or 22,
            num_attention_heads=12, max_position_embeddings=8192, local_attention=128, **ids)
        vision = transformers.SiglipVisionConfig(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=512,
            patch_size=16, vision_use_head=False)
    else:
        text = transformers.ModernBertConfig(
            vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=text_layers or 2,
            num_attention_heads=4, max_position_embeddings=512, local_attention=16, **ids)
        vision = transformers.SiglipVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=4,
            vision_use_head=False)
    vlm = transformers.ModernVBertConfig(
        text_config=text, vision_config=vision, image_token_id=proc.image_token_id, pixel_shuffle_factor=4 if real_size else 2)
    return transformers.ColModernVBertConfig(vlm_config=vlm, embedding_dim=128)


def build(family: str, folder: pathlib.Path, *, seed: int = 0) -> pathlib.Path:
    """Save a tiny random checkpoint of ``family`` (model + processor files) into ``folder``."""
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    proc = processor(family)
    torch.manual_seed(seed)
    model = model_class(family)(config(family, proc)).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder
