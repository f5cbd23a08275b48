"""Saved OCR-assisted indexes keep the text-signal recipe they were built with: BM25 and the
layout signal are rebuilt from the stored words on load, so an index saved before recipe 2
(no ``text_signals`` in its manifest) must rebuild them the old way and search as it did, and
one whose recipe this code does not know must be refused. A stand-in encoder embeds the dense
passages, so no model loads."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from local_backend.pages import OcrAssistedPageRetriever
from local_backend.pages.retriever import TEXT_SIGNALS, lexical_document
from local_backend.pages.store import StoredIndex, read_index, write_index
from local_backend.pages.words import Box, PageText, Word
from vertex_mm.errors import InputError
from vertex_mm.index import IndexCorruptedError, IndexVersionError
from vertex_mm.pages import PageRef


class HashingEncoder:
    """Bag of hashed words, L2-normalised: deterministic, enough to rank passages."""

    def encode_texts(self, texts):
        out = np.zeros((len(texts), 64), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % 64] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _words(lines):
    return [Word(t, Box(0.05 + 0.07 * i, 0.05 + 0.03 * n, 0.11 + 0.07 * i, 0.07 + 0.03 * n), "ocr")
            for n, line in enumerate(lines) for i, t in enumerate(line.split())]


PROSE = "Risk rises with age and the death rate for males is greater than for females in this cohort"
PAGES = [
    # a scanned page with a coefficient printout in its prose, no caption, no figure region
    _words([PROSE, PROSE, PROSE, "Coefficients of the multi-state model"]
           + [f"{n} 0.0652 1.0674 0.0036 17.4" for n in ("age", "sexM", "mspike", "pcm", "death")]),
    _words([PROSE, "the coefficients of a multi-state model are discussed in the text", PROSE]),
    _words(["Figure 2: Survival curves by sex over years since diagnosis.", PROSE]),
]


def _retriever(text_signals: int = TEXT_SIGNALS) -> OcrAssistedPageRetriever:
    r = OcrAssistedPageRetriever(dense_encoder=HashingEncoder(), text_signals=text_signals)
    refs = [PageRef(Path(f"doc{i}.pdf"), 1) for i in range(len(PAGES))]
    r.attach(refs, [PageText(ref.page_id, words) for ref, words in zip(refs, PAGES)], {})
    return r


def _save_as_before_the_recipe(r: OcrAssistedPageRetriever, path: Path) -> None:
    """What ``save`` wrote before recipe 2: the same folder, without ``text_signals``."""
    r.save(path)
    stored = read_index(path)
    del stored.config["text_signals"]
    write_index(path, StoredIndex(stored.config, stored.refs, stored.pages, stored.arrays))


QUERIES = ["table of coefficients of a multi-state model", "survival curves by sex", "death rate of males"]


def test_the_new_recipe_adds_captions_to_bm25_and_finds_the_numeric_table():
    page = PageText("p", PAGES[2])
    assert lexical_document(page, captions=False) == page.text  # no figure region: the page words
    assert lexical_document(page).count("Survival curves by sex") == 3  # the caption twice more
    new, old = _retriever(), _retriever(text_signals=1)
    assert new.scorer("layout").scores_many(QUERIES[:1])[0].tolist() == [1, 0, 0]
    assert old.scorer("layout").scores_many(QUERIES[:1])[0].tolist() == [0, 0, 0]


def test_an_index_saved_before_the_recipe_loads_with_the_old_one_and_searches_as_before(tmp_path):
    before = _retriever(text_signals=1)  # what today's main built
    _save_as_before_the_recipe(before, tmp_path / "idx")
    assert "text_signals" not in json.loads((tmp_path / "idx" / "manifest.json").read_text())["config"]
    again = OcrAssistedPageRetriever.load(tmp_path / "idx", dense_encoder=HashingEncoder())
    assert again.text_signals == 1
    np.testing.assert_allclose(again.score(QUERIES), before.score(QUERIES), rtol=1e-6)
    assert not np.allclose(_retriever().score(QUERIES), before.score(QUERIES))  # recipe 2 would score otherwise


def test_a_new_index_records_its_recipe_and_one_from_the_future_is_refused(tmp_path):
    r = _retriever()
    r.save(tmp_path / "idx")
    again = OcrAssistedPageRetriever.load(tmp_path / "idx", dense_encoder=HashingEncoder())
    assert again.text_signals == TEXT_SIGNALS == 2
    np.testing.assert_allclose(again.score(QUERIES), r.score(QUERIES), rtol=1e-6)
    stored = read_index(tmp_path / "idx")
    stored.config["text_signals"] = 99
    write_index(tmp_path / "future", stored)
    with pytest.raises(IndexVersionError, match=r"recipe 99.*knows 1\.\.2.*index the pages again") as err:
        OcrAssistedPageRetriever.load(tmp_path / "future", dense_encoder=HashingEncoder())
    assert isinstance(err.value, IndexCorruptedError)
    with pytest.raises(ValueError, match="text_signals"):
        OcrAssistedPageRetriever(text_signals=3)


def test_the_eval_table_carries_recipe_1_and_passage_bm25_rows():
    variants = _retriever().eval_variants(QUERIES)
    recipe1 = variants["  text-signal recipe 1 (before captions, numeric-line tables, references)"]
    np.testing.assert_allclose(recipe1, _retriever(text_signals=1).score(QUERIES), rtol=1e-6)
    assert variants["  passage BM25 alone (60-word windows)"].shape == (3, 3)
    assert "  + passage BM25 (weight 0.5)" in variants
    assert not any(k.startswith("  text-signal") for k in _retriever(text_signals=1).eval_variants(QUERIES))


def test_a_recipe_2_index_is_written_as_format_3_so_older_readers_refuse_it(tmp_path, monkeypatch):
    """Readers of format 2 (releases that knew recipe 1 only) rebuilt a recipe-2 index with
    recipe 1 and searched it differently; format 3 makes them refuse it. Recipe-1 indexes stay
    format 2, which they read as before."""
    from vertex_mm.index import manifest as manifest_module

    _retriever().save(tmp_path / "new")
    _retriever(text_signals=1).save(tmp_path / "old")
    assert json.loads((tmp_path / "new" / "manifest.json").read_text())["format_version"] == 3
    assert json.loads((tmp_path / "old" / "manifest.json").read_text())["format_version"] == 2
    monkeypatch.setattr(manifest_module, "FORMAT_VERSION", 2)  # what an older release reads
    with pytest.raises(IndexVersionError, match="format version 3 is newer.*upgrade vertex-mm"):
        read_index(tmp_path / "new")
    assert OcrAssistedPageRetriever.load(tmp_path / "old", dense_encoder=HashingEncoder()).text_signals == 1


class SpanHashingEncoder(HashingEncoder):
    """The stand-in with word spans: each span's words hashed as one text."""

    def encode_word_spans(self, texts, spans):
        return [self.encode_texts([" ".join(words[a:b]) for a, b in want]) for words, want in zip(texts, spans)]


def _late(encoder) -> OcrAssistedPageRetriever:
    r = OcrAssistedPageRetriever(dense_encoder=encoder, dense_late_chunking=True)
    refs = [PageRef(Path(f"doc{i}.pdf"), 1) for i in range(len(PAGES))]
    r.attach(refs, [PageText(ref.page_id, words) for ref, words in zip(refs, PAGES)], {})
    return r


def test_the_dense_late_chunking_choice_is_recorded_kept_and_checked_on_load(tmp_path):
    r = _late(SpanHashingEncoder())
    r.save(tmp_path / "late")
    again = OcrAssistedPageRetriever.load(tmp_path / "late", dense_encoder=SpanHashingEncoder())
    assert again.dense_late_chunking and again.scorer("dense").late_chunking  # new pages get encoded the same way
    np.testing.assert_allclose(again.score(QUERIES), r.score(QUERIES), rtol=1e-6)
    with pytest.raises(InputError, match="dense_late_chunking=True, which it keeps"):
        OcrAssistedPageRetriever.load(tmp_path / "late", dense_encoder=SpanHashingEncoder(), dense_late_chunking=False)
    stored = read_index(tmp_path / "late")
    stored.config["dense_late_chunking"] = "false"
    write_index(tmp_path / "mangled", stored)
    with pytest.raises(IndexCorruptedError, match="must be true or false, got 'false'"):
        OcrAssistedPageRetriever.load(tmp_path / "mangled", dense_encoder=SpanHashingEncoder())
    _save_as_before_the_recipe(_retriever(), tmp_path / "before")  # written before the key existed
    stored = read_index(tmp_path / "before")
    del stored.config["dense_late_chunking"]
    write_index(tmp_path / "before", stored)
    assert not OcrAssistedPageRetriever.load(tmp_path / "before", dense_encoder=HashingEncoder()).dense_late_chunking


def test_late_chunking_with_an_encoder_that_cannot_pool_spans_is_refused():
    with pytest.raises(TypeError, match="late_chunking needs an encoder with encode_word_spans.*HashingEncoder has none"):
        _late(HashingEncoder())
    variants = _retriever().eval_variants(QUERIES)  # the stand-in cannot pool spans: no late-chunked rows
    assert not any("late-chunked" in k for k in variants)
