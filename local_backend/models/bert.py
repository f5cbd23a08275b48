"""A BERT encoder and its WordPiece tokenizer loaded straight from a Hugging Face folder.

Why not ``transformers.AutoModel``: importing transformers' BERT costs ~4.5 s on the project's
2-core machine (its lazy module tables, ``torch.distributed`` pulled in by its kernel hub), the
model itself 0.1 s. Every ``vertex-mm search`` and ``pages search`` of the offline default
paid that for a 384-d text vector: 8.5 s a query, 4 s of it here. The encoder below is the
same arithmetic as transformers' ``BertModel`` (embeddings, post-LayerNorm blocks, exact-erf
GELU, no pooler), reads the same ``config.json`` and ``model.safetensors`` (or
``pytorch_model.bin``), and its token states match transformers' to float32 rounding
(``tests/local_backend/models/test_bert.py`` checks both it and the tokenizer against
transformers). The tokenizer is the ``tokenizers`` library that transformers' fast tokenizer
wraps, from the folder's ``tokenizer.json``.

:func:`load_bert` returns ``None`` for a folder it does not read (another architecture, relative
position embeddings, no ``tokenizer.json``, weights named otherwise than a BERT encoder's, a
``tokenizer_config.json`` that changes what ``tokenizer.json`` does): callers then use transformers.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vertex_mm.errors import WeightsNotFoundError

__all__ = ["BertEncoder", "WordPieces", "load_bert"]


@dataclass(frozen=True)
class _Config:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def read(cls, path: pathlib.Path) -> "_Config | None":
        """The config when it describes a plain BERT this module computes exactly, else None."""
        try:
            raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (not isinstance(raw, dict) or raw.get("model_type") != "bert" or raw.get("hidden_act", "gelu") != "gelu"
                or raw.get("position_embedding_type", "absolute") != "absolute"):
            return None
        try:
            config = cls(**{f: raw[f] for f in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                                "intermediate_size", "max_position_embeddings")},
                         type_vocab_size=int(raw.get("type_vocab_size", 2)),
                         layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)))
        except (KeyError, TypeError, ValueError):
            return None
        return config if config.hidden_size % config.num_attention_heads == 0 else None


class _Linear(nn.Module):
    """``nn.Linear`` without its random initialisation: every weight comes from the checkpoint
    (strict loading), and initialising BERT's ~22M parameters first cost 0.2 s a process."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.empty(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class _LayerNorm(nn.Module):
    def __init__(self, n: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(n))
        self.bias = nn.Parameter(torch.empty(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class _Embedding(nn.Module):
    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


class _Block(nn.Module):
    """One transformer layer as BERT has it: attention, add & LayerNorm, feed-forward, add & LayerNorm."""

    def __init__(self, c: _Config) -> None:
        super().__init__()
        h = c.hidden_size
        self.heads = c.num_attention_heads
        self.query, self.key, self.value, self.attn_out = (_Linear(h, h) for _ in range(4))
        self.attn_norm = _LayerNorm(h, c.layer_norm_eps)
        self.up = _Linear(h, c.intermediate_size)
        self.down = _Linear(c.intermediate_size, h)
        self.out_norm = _LayerNorm(h, c.layer_norm_eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape

        def heads(proj: _Linear) -> torch.Tensor:
            return proj(x).view(b, t, self.heads, h // self.heads).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(heads(self.query), heads(self.key), heads(self.value), attn_mask=bias,
                                             scale=1.0 / math.sqrt(h // self.heads))
        x = self.attn_norm(self.attn_out(ctx.transpose(1, 2).reshape(b, t, h)) + x)
        return self.out_norm(self.down(F.gelu(self.up(x))) + x)


#: checkpoint names -> this module's (a "bert." prefix, which some checkpoints carry, is dropped first)
_RENAMES = (("attention.self.query.", "query."), ("attention.self.key.", "key."), ("attention.self.value.", "value."),
            ("attention.output.dense.", "attn_out."), ("attention.output.LayerNorm.", "attn_norm."),
            ("intermediate.dense.", "up."), ("output.dense.", "down."), ("output.LayerNorm.", "out_norm."),
            ("encoder.layer.", "blocks."))


class BertEncoder(nn.Module):
    """BERT's token states (``last_hidden_state``): ``encoder(input_ids, attention_mask,
    token_type_ids)`` -> ``(batch, tokens, hidden)``. ``config.hidden_size`` as in transformers."""

    def __init__(self, config: _Config) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = _Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = _Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = _Embedding(config.type_vocab_size, config.hidden_size)
        self.embed_norm = _LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(types) + self.position_embeddings(positions)
        x = self.embed_norm(x)
        # Padding keys get the dtype's lowest value added, as transformers' extended mask does.
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for block in self.blocks:
            x = block(x, bias)
        return x

    def load_checkpoint(self, weights: dict[str, torch.Tensor]) -> bool:
        """Load a transformers BERT state dict; False when its names are not a plain BERT
        encoder's (the caller then leaves the folder to transformers). Heads (pooler, masked-LM,
        classifiers) and buffers are ignored, old ``LayerNorm.gamma``/``beta`` names read as
        transformers reads them; a weight of the wrong shape raises."""
        state = {}
        for name, value in weights.items():
            name = name.removeprefix("bert.")
            if not name.startswith(("embeddings.", "encoder.")) or name.endswith("position_ids"):
                continue
            if ".LayerNorm." in name:
                name = name.removesuffix(".gamma") + ".weight" if name.endswith(".gamma") else name
                name = name.removesuffix(".beta") + ".bias" if name.endswith(".beta") else name
            if name.startswith("embeddings."):
                name = name.removeprefix("embeddings.").replace("LayerNorm.", "embed_norm.")
            for old, new in _RENAMES:
                name = name.replace(old, new)
            state[name] = value.float() if value.is_floating_point() else value  # a float16 checkpoint computes in float32
        if set(state) != set(self.state_dict()):
            return False
        self.load_state_dict(state, strict=True, assign=True)  # assign: the loaded tensors, not copies
        return True


class WordPieces:
    """The folder's fast tokenizer (``tokenizers``), in the two forms the text tower calls.

    ``batch(texts, max_tokens)``: ``input_ids``/``attention_mask``/``token_type_ids`` tensors,
    ``[CLS] ... [SEP]``, truncated to ``max_tokens`` and padded to the longest, as transformers'
    ``tokenizer(texts, padding=True, truncation=True, max_length=max_tokens)``. ``pieces(words)``:
    the word pieces of pre-split words without special tokens, and the word of each piece.
    """

    def __init__(self, path: pathlib.Path, tokenizers: Any) -> None:
        base = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        special = _special_tokens(path)
        ids = {k: base.token_to_id(special[k]) for k in ("cls", "sep", "pad")}
        if any(v is None for v in ids.values()):
            raise ValueError(f"{path / 'tokenizer.json'} lacks one of {special}")
        self.cls_token_id, self.sep_token_id, self.pad_token_id = ids["cls"], ids["sep"], ids["pad"]
        self._pad_token = special["pad"]
        base.no_truncation()
        base.no_padding()
        self._plain = base
        self._batched: dict[int, Any] = {}

    def batch(self, texts: Sequence[str], max_tokens: int) -> dict[str, torch.Tensor]:
        tok = self._batched.get(max_tokens)
        if tok is None:  # one configured copy per length: the settings are the tokenizer's state
            tok = type(self._plain).from_str(self._plain.to_str())
            tok.enable_truncation(max_length=max_tokens)
            tok.enable_padding(pad_id=self.pad_token_id, pad_token=self._pad_token)
            self._batched[max_tokens] = tok  # published configured: another thread may read it at once
        enc = tok.encode_batch(list(texts))
        return {"input_ids": torch.tensor([e.ids for e in enc], dtype=torch.long),
                "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.long),
                "token_type_ids": torch.tensor([e.type_ids for e in enc], dtype=torch.long)}

    def pieces(self, words: Sequence[str]) -> tuple[list[int], list[int | None]]:
        enc = self._plain.encode(list(words), is_pretokenized=True, add_special_tokens=False)
        return list(enc.ids), list(enc.word_ids)


def _special_tokens(path: pathlib.Path) -> dict[str, str]:
    names = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"}
    try:
        raw = json.loads((path / "special_tokens_map.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return names
    for key in names:
        value = raw.get(f"{key}_token") if isinstance(raw, dict) else None
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            names[key] = value
    return names


def load_bert(path: str | pathlib.Path) -> tuple[BertEncoder, WordPieces] | None:
    """The encoder (eval mode, float32) and tokenizer of a BERT folder, or None when this module
    does not read it (see the module docstring). A folder it reads whose weights or tokenizer
    are damaged, or do not fit its config, raises :class:`~vertex_mm.errors.WeightsNotFoundError`."""
    path = pathlib.Path(path)
    config = _Config.read(path)
    if config is None or not (path / "tokenizer.json").is_file():
        return None
    try:
        import tokenizers
    except ImportError:
        return None
    file = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
    if file is None:
        return None
    try:
        if not _tokenizer_is_bert_as_configured(path):
            return None
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            weights = load_file(str(file))
        else:
            weights = torch.load(file, map_location="cpu", weights_only=True)
        model = BertEncoder(config)
        if not model.load_checkpoint(weights):
            return None
        pieces = WordPieces(path, tokenizers)
    except (OSError, MemoryError):
        raise  # unreadable or too big: not damaged, and the error says which
    except Exception as exc:  # safetensors, pickle, JSON, shape and tokenizer errors have no common base
        raise WeightsNotFoundError(f"{path}: the model files are damaged or do not fit its config.json "
                                   f"({type(exc).__name__}: {exc}); install or copy them again") from exc
    return model.eval(), pieces


def _tokenizer_is_bert_as_configured(path: pathlib.Path) -> bool:
    """Whether ``tokenizer.json`` alone tokenizes as transformers would with this folder's
    ``tokenizer_config.json``: transformers rebuilds BERT's normaliser from ``do_lower_case``,
    ``strip_accents`` and ``tokenize_chinese_chars`` there, and honours the truncation and
    padding sides. Any disagreement leaves the folder to transformers."""
    spec = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    normalizer = spec.get("normalizer") if isinstance(spec, dict) else None
    if not isinstance(normalizer, dict) or normalizer.get("type") != "BertNormalizer":
        return False
    try:
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True  # transformers then uses tokenizer.json as it is
    if not isinstance(config, dict):
        return False
    return (config.get("tokenizer_class") in (None, "BertTokenizer", "BertTokenizerFast")
            and config.get("truncation_side", "right") == "right" and config.get("padding_side", "right") == "right"
            and config.get("do_basic_tokenize", True) is True
            and config.get("do_lower_case", True) == normalizer.get("lowercase")
            and config.get("strip_accents") == normalizer.get("strip_accents")
            and config.get("tokenize_chinese_chars", True) == normalizer.get("handle_chinese_chars"))
