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
