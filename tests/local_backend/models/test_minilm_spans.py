"""MiniLMTextEncoder.encode_word_spans (late chunking) on the shipped all-MiniLM-L6-v2 files."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from local_backend.models.minilm import MiniLMTextEncoder, default_model_dir
from local_backend.pages.dense import DenseScorer, window_spans

WORDS = ("Quarterly revenue grew eleven percent while operating costs fell; the board approved a new "
         "dividend policy and a share buyback programme for the coming fiscal year, citing strong cash "
         "flow from the cloud division and lower interest expenses on refinanced debt.").split()


@pytest.fixture(scope="module")
def encoder() -> MiniLMTextEncoder:
    return MiniLMTextEncoder(max_tokens=128)


@pytest.fixture(scope="module")
def reference() -> tuple[Any, Any]:
    """transformers' own tokenizer and BertModel of the same files: the yardstick."""
    transformers = pytest.importorskip("transformers")
    path = str(default_model_dir())
    return (transformers.AutoTokenizer.from_pretrained(path, local_files_only=True),
            transformers.AutoModel.from_pretrained(path, local_files_only=True).eval())


def _pieces(reference: tuple[Any, Any], words: list[str]) -> Any:
    return reference[0](words, is_split_into_words=True, add_special_tokens=False)


def _direct(reference: tuple[Any, Any], words: list[str], first: int, stop: int) -> np.ndarray:
    """The span's vector computed by transformers: one [CLS] words [SEP] input, the mean of the
    span's word pieces' outputs."""
    tokenizer, model = reference
    t = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**t).last_hidden_state[0].numpy()
    rows = [i for i, w in enumerate(t.word_ids()) if w is not None and first <= w < stop]
    v = hidden[rows].mean(0)
    return v / np.linalg.norm(v)


def test_a_span_is_the_mean_of_its_word_pieces_in_one_encoding_of_the_text(encoder: MiniLMTextEncoder,
                                                                          reference: tuple[Any, Any]) -> None:
    spans = [(0, 10), (5, 25), (20, len(WORDS)), (0, len(WORDS))]
    got = encoder.encode_word_spans([WORDS], [spans])[0]
    assert got.shape == (len(spans), encoder.native_dim)
    for row, (a, b) in zip(got, spans):
        np.testing.assert_allclose(row, _direct(reference, WORDS, a, b), atol=2e-5)


def test_a_long_text_is_cut_into_chunks_at_word_boundaries(reference: tuple[Any, Any]) -> None:
    small = MiniLMTextEncoder(max_tokens=16)
    n_pieces = len(_pieces(reference, WORDS)["input_ids"])
    assert n_pieces > 2 * 14  # several chunks of at most 14 pieces between [CLS] and [SEP]
    chunks: list[list[int]] = []
    real = small._chunk_states
    small._chunk_states = lambda c: (chunks.extend(c), real(c))[1]  # type: ignore[method-assign]
    spans = window_spans(len(WORDS), 8, 4)
    got = small.encode_word_spans([WORDS, WORDS[:3]], [spans, [(0, 3)]])
    short = len(_pieces(reference, WORDS[:3])["input_ids"])
    assert sum(len(c) for c in chunks) == n_pieces + short  # every piece once: no overlap between chunks
    assert all(1 <= len(c) <= 14 for c in chunks)
    # Every chunk of the long text starts at a word's first piece.
    enc = _pieces(reference, WORDS)
    word_starts = {i for i, w in enumerate(enc.word_ids()) if i == 0 or w != enc.word_ids()[i - 1]}
    pos = 0
    for c in chunks[: len(chunks) - 1]:
        assert pos in word_starts
        pos += len(c)
    # A span inside the first chunk reads only that chunk's words: the direct encoding of them.
    first_words = max(w for w in enc.word_ids()[: len(chunks[0])] if w is not None) + 1
    assert first_words >= 8
    np.testing.assert_allclose(got[0][0], _direct(reference, WORDS[:first_words], 0, 8), atol=2e-5)
    assert got[0].shape == (len(spans), 384) and got[1].shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(got[0], axis=1), 1.0, atol=1e-5)


def test_texts_without_words_and_spans_without_pieces(encoder: MiniLMTextEncoder) -> None:
    out = encoder.encode_word_spans([[], ["hello", "world"]], [[], [(1, 1), (0, 2)]])
    assert out[0].shape == (0, 384)
    assert not out[1][0].any() and abs(np.linalg.norm(out[1][1]) - 1) < 1e-5
    with pytest.raises(ValueError, match="2 texts but 1 span lists"):
        encoder.encode_word_spans([["a"], ["b"]], [[(0, 1)]])


def test_late_chunked_dense_scorer_keeps_the_passages_and_finds_the_page(encoder: MiniLMTextEncoder) -> None:
    pages = [WORDS * 3, "the cat sat on the mat near the garden door".split() * 6, []]
    plain = DenseScorer(encoder).fit(pages, [["a revenue chart"], [], []])
    late = DenseScorer(encoder, late_chunking=True).fit(pages, [["a revenue chart"], [], []])
    assert late.n_passages == plain.n_passages
    assert sorted(late.arrays()["owner"].tolist()) == sorted(plain.arrays()["owner"].tolist())
    s = late.scores_many(["dividend and share buyback", "a cat on a mat"])
    assert s[0].argmax() == 0 and s[1].argmax() == 1 and s[0, 2] == -1.0
    merged = late.merged([1], None)
    assert merged.late_chunking and merged.n_docs == 1


def test_words_without_pieces_long_words_and_pages_past_the_models_limit(encoder: MiniLMTextEncoder,
                                                                          reference: tuple[Any, Any]) -> None:
    # a zero-width space has no word pieces: spans around it pool the pieces of the other words
    words = ["dividend", "\u200b", "policy", "approved"]
    got = encoder.encode_word_spans([words], [[(0, 3), (1, 2), (1, 4)]])[0]
    np.testing.assert_allclose(got[0], _direct(reference, words, 0, 3), atol=2e-5)
    assert not got[1].any()
    # one "word" of ~600 pieces is cut inside itself; a page of ~1,300 pieces (past MiniLM's 512) is
    # cut into chunks: every span still gets a unit vector
    long_word = "x".join(str(i) for i in range(300))
    page = WORDS * 30
    out = encoder.encode_word_spans([["start", long_word, "end"], page], [[(0, 3), (2, 3)], window_spans(len(page), 48, 24)])
    assert all(np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5) for v in out)
    first = _direct(reference, page[:48], 0, 48)
    assert float(out[1][0] @ first) > 0.9  # the first window read in a longer context: close, not equal


def test_figure_passages_keep_their_page(encoder: MiniLMTextEncoder) -> None:
    pages = [WORDS * 2, "the cat sat on the mat".split() * 5]
    # float32, as encode_texts computes: where bfloat16 is native the scorer's "auto" autocasts,
    # and a bfloat16 vector differs from the float32 one by ~1e-3 (this failed on Zen 4).
    late = DenseScorer(encoder, late_chunking=True, precision="fp32").fit(pages, [[], ["a revenue chart of the quarter"]])
    arrays = late.arrays()
    chart = encoder.encode_texts(["a revenue chart of the quarter"])[0]
    at = int(np.argmax(arrays["vectors"] @ chart))
    np.testing.assert_allclose(arrays["vectors"][at], chart, atol=1e-6)
    assert arrays["owner"][at] == 1
