"""local_backend.models.bert: the BERT text encoder and tokenizer read without transformers must
give what transformers gives for the same folder, and refuse what they do not read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from local_backend.models.bert import load_bert
from local_backend.models.minilm import MiniLMTextEncoder, default_model_dir
from vertex_mm.errors import WeightsNotFoundError

transformers = pytest.importorskip("transformers")

TEXTS = ["a dog on a beach", "Café déjà vu — naïve résumé", "", "日本語のテキスト and English", "x " * 300,
         "UPPER lower MiXeD 12,345.67 e-mail@example.com", "\u200b zero-width and\ttabs\nnewlines"]
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "special_tokens_map.json", "tokenizer_config.json")


def _reference(path: Path) -> tuple[object, object]:
    return (transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True),
            transformers.AutoModel.from_pretrained(str(path), local_files_only=True).eval())


def _same_as_transformers(path: Path, lengths: tuple[int, ...] = (8, 32, 128, 512)) -> None:
    loaded = load_bert(path)
    assert loaded is not None
    model, pieces = loaded
    tokenizer, reference = _reference(path)
    for n in lengths:
        want = tokenizer(TEXTS, padding=True, truncation=True, max_length=n, return_tensors="pt")
        got = pieces.batch(TEXTS, n)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert torch.equal(got[key], want[key]), (n, key)
        with torch.inference_mode():
            a, b = reference(**want).last_hidden_state, model(**got)
        real = want["attention_mask"].bool()
        torch.testing.assert_close(b[real], a[real], rtol=0, atol=1e-5)
    words = "The quick brown fox's naïve co-operation, 3.5x faster! \u200b end".split(" ")
    want_pieces = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    assert pieces.pieces(words) == (list(want_pieces["input_ids"]), want_pieces.word_ids())
    assert (pieces.cls_token_id, pieces.sep_token_id, pieces.pad_token_id) == (
        tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)


def test_the_shipped_minilm_matches_transformers():
    _same_as_transformers(default_model_dir())


@pytest.fixture
def tiny_bert(tmp_path: Path) -> Path:
    """A random 2-layer BERT saved as a masked-LM checkpoint (weights under "bert.", plus "cls."
    heads), with the shipped MiniLM's tokenizer files."""
    config = transformers.BertConfig(vocab_size=30522, hidden_size=48, num_hidden_layers=2, num_attention_heads=6,
                                     intermediate_size=96, max_position_embeddings=512, layer_norm_eps=1e-7)
    torch.manual_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(tmp_path)
    for name in TOKENIZER_FILES:
        shutil.copy(default_model_dir() / name, tmp_path / name)
    return tmp_path


def test_another_bert_checkpoint_matches_transformers(tiny_bert: Path):
    weights = {p.name for p in tiny_bert.iterdir()}
    assert "model.safetensors" in weights
    _same_as_transformers(tiny_bert, lengths=(16, 512))


def test_a_pytorch_model_bin_is_read_too(tiny_bert: Path):
    from safetensors.torch import load_file

    torch.save(load_file(str(tiny_bert / "model.safetensors")), tiny_bert / "pytorch_model.bin")
    (tiny_bert / "model.safetensors").unlink()
    _same_as_transformers(tiny_bert, lengths=(32,))


@pytest.mark.parametrize("change", [
    {"model_type": "roberta"}, {"position_embedding_type": "relative_key"}, {"hidden_act": "relu"},
])
def test_folders_it_does_not_compute_exactly_are_left_to_transformers(tiny_bert: Path, change: dict):
    config = json.loads((tiny_bert / "config.json").read_text())
    (tiny_bert / "config.json").write_text(json.dumps({**config, **change}))
    assert load_bert(tiny_bert) is None


def test_without_tokenizer_json_the_text_tower_loads_through_transformers_with_the_same_vectors(tmp_path: Path):
    folder = tmp_path / "minilm"
    shutil.copytree(default_model_dir(), folder)
    (folder / "tokenizer.json").unlink()  # transformers builds the same tokenizer from vocab.txt
    assert load_bert(folder) is None
    slow = MiniLMTextEncoder(folder, max_tokens=128)
    assert type(slow.model).__name__ == "BertModel"  # transformers'
    fast = MiniLMTextEncoder(max_tokens=128)
    assert type(fast.model).__name__ == "BertEncoder"
    np.testing.assert_allclose(fast.encode_texts(TEXTS), slow.encode_texts(TEXTS), rtol=0, atol=1e-6)
    spans = [[(0, 3), (2, 5)]]
    words = ["late", "chunked", "windows", "of", "one", "page"]
    np.testing.assert_allclose(fast.encode_word_spans([words], spans)[0], slow.encode_word_spans([words], spans)[0],
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("damage", ["truncated", "wrong_shape", "bad_tokenizer"])
def test_damaged_files_are_a_typed_error_naming_the_folder(tiny_bert: Path, damage: str):
    if damage == "truncated":
        data = (tiny_bert / "model.safetensors").read_bytes()
        (tiny_bert / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "wrong_shape":
        config = json.loads((tiny_bert / "config.json").read_text())
        (tiny_bert / "config.json").write_text(json.dumps({**config, "intermediate_size": 64}))
    else:
        (tiny_bert / "tokenizer.json").write_text("{not json")
    with pytest.raises(WeightsNotFoundError, match=f"{tiny_bert}: the model files are damaged"):
        load_bert(tiny_bert)


def test_embedding_a_text_does_not_import_transformers():
    code = ("import sys; from local_backend.models.minilm import create_minilm; "
            "create_minilm().encode_texts(['a cat']); print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_float16_checkpoint_is_computed_in_float32(tiny_bert: Path):
    from safetensors.torch import load_file, save_file

    weights = load_file(str(tiny_bert / "model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, str(tiny_bert / "model.safetensors"))
    model, _ = load_bert(tiny_bert)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def _shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    shutil.copytree(default_model_dir(), folder)
    return folder


@pytest.mark.parametrize("rename", ["gamma_beta", "classifier_head"])
def test_checkpoints_transformers_reads_are_read_alike(tmp_path: Path, rename: str):
    """Old LayerNorm names (gamma/beta) and a fine-tuning head, as a BertForSequenceClassification
    checkpoint has: transformers' AutoModel loads both; so does this module, to the same states."""
    from safetensors.torch import load_file

    folder = _shipped_copy(tmp_path)
    weights = load_file(str(folder / "model.safetensors"))
    if rename == "gamma_beta":
        weights = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                   for k, v in weights.items()}
    else:
        weights = {**{"bert." + k: v for k, v in weights.items()}, "classifier.weight": torch.zeros(2, 384),
                   "classifier.bias": torch.zeros(2)}
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")
    _same_as_transformers(folder, lengths=(32,))


def test_weights_named_otherwise_are_left_to_transformers(tiny_bert: Path):
    from safetensors.torch import load_file, save_file

    weights = load_file(str(tiny_bert / "model.safetensors"))
    save_file({k.replace("attention.self.query", "attention.self.q_proj"): v for k, v in weights.items()},
              str(tiny_bert / "model.safetensors"))
    assert load_bert(tiny_bert) is None


@pytest.mark.parametrize("change", [{"do_lower_case": False}, {"strip_accents": False}, {"tokenize_chinese_chars": False},
                                    {"truncation_side": "left"}, {"tokenizer_class": "RobertaTokenizer"}])
def test_a_tokenizer_config_that_changes_the_tokenizer_leaves_the_folder_to_transformers(tmp_path: Path, change: dict):
    folder = _shipped_copy(tmp_path)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, **change}))
    assert load_bert(folder) is None
    if "tokenizer_class" not in change:  # the text tower then tokenizes as transformers does
        encoder = MiniLMTextEncoder(folder, max_tokens=8)
        texts = ["Café DÉJÀ vu Naïve", "UPPER lower 日本語 and a much longer tail of words here"]
        want = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)(
            texts, padding=True, truncation=True, max_length=8, return_tensors="pt")
        assert torch.equal(encoder.tokenize(texts)["input_ids"], want["input_ids"])


@pytest.mark.parametrize("max_tokens", [2, 513, 1024])
def test_max_tokens_outside_the_models_positions_is_refused_naming_the_limit(max_tokens: int):
    from vertex_mm.errors import InputError

    with pytest.raises(InputError, match=f"max_tokens must be 3..512 .*got {max_tokens}"):
        MiniLMTextEncoder(max_tokens=max_tokens)
