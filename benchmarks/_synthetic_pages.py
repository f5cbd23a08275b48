"""Synthetic ColPali-like pages, shared by the benchmarks that need many pages with structure.

128-d unit token vectors. Topics come in groups of 10 (a topic centre is at cosine ~0.6 to its
group's centre, so neighbouring topics overlap); each topic has 64 "concept" vectors around its
centre (cosine ~0.7 to it; two concepts of one topic ~0.5), and 32 "background" vectors are
shared by every page (blank margins, layout). A page of a topic shows 16 of its 64 concepts
plus 2 concepts of another topic: 35 % of its tokens near background vectors, 5 % near the
borrowed concepts, the rest near its own, each at cosine ``token_cos`` to its source.

:func:`make_vocab` draws the vocabulary, :func:`topic_page` one page; both take the caller's
generator, so a benchmark can stream pages in chunks (``bench_pages_scale``) or make them all
at once (:func:`make_corpus`, ``bench_muvera``) from the same definitions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DIM", "near", "make_corpus", "make_vocab", "topic_page", "unit"]

DIM = 128
CONCEPTS, PAGE_CONCEPTS, BORROWED, BACKGROUND, TOPIC_GROUP = 64, 16, 2, 32, 10
SHARE_BACKGROUND, SHARE_BORROWED = 0.35, 0.05


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def near(rng: np.random.Generator, src: np.ndarray, cos: float) -> np.ndarray:
    """Unit vectors at cosine ~``cos`` to the unit rows of ``src`` (a random direction added)."""
    noise = unit(rng.standard_normal(src.shape, dtype=np.float32))
    return unit(src + np.float32(np.sqrt(1 / cos**2 - 1)) * noise)


def make_vocab(rng: np.random.Generator, n_topics: int) -> dict[str, Any]:
    """``{"concepts": (topics, 64, 128), "background": (32, 128)}`` unit float32 vectors."""
    groups = unit(rng.standard_normal((-(-n_topics // TOPIC_GROUP), DIM), dtype=np.float32))
    centres = near(rng, np.repeat(groups, TOPIC_GROUP, axis=0)[:n_topics], 0.6)
    concepts = near(rng, np.repeat(centres, CONCEPTS, axis=0), 0.7).reshape(n_topics, CONCEPTS, DIM)
    background = unit(rng.standard_normal((BACKGROUND, DIM), dtype=np.float32))
    return {"concepts": concepts, "background": background}


def topic_page(rng: np.random.Generator, vocab: dict[str, Any], topic: int, n: int, token_cos: float = 0.7,
               extra: np.ndarray | None = None) -> np.ndarray:
    """One page of ``n`` float32 unit tokens about ``topic``; ``extra`` (unit rows) replace as
    many of its own-concept sources (planted content), before the noise and the shuffle."""
    concepts = vocab["concepts"]
    n_topics = concepts.shape[0]
    own = concepts[topic, rng.choice(CONCEPTS, PAGE_CONCEPTS, replace=False)]
    other = concepts[rng.integers(n_topics), rng.choice(CONCEPTS, BORROWED, replace=False)]
    n_bg, n_other = round(SHARE_BACKGROUND * n), round(SHARE_BORROWED * n)
    n_extra = 0 if extra is None else len(extra)
    parts = [vocab["background"][rng.integers(0, BACKGROUND, n_bg)], other[rng.integers(0, BORROWED, n_other)],
             own[rng.integers(0, PAGE_CONCEPTS, n - n_bg - n_other - n_extra)]]
    src = np.concatenate(parts if extra is None else [*parts, extra])
    return near(rng, src, token_cos)[rng.permutation(n)]


def make_corpus(n_pages: int, n_topics: int, seed: int, token_cos: float = 0.7, min_tokens: int = 100,
                max_tokens: int = 1030) -> tuple[list[np.ndarray], np.ndarray, dict[str, Any]]:
    """(pages: float16 ``(tokens, 128)`` unit rows, topic of each page, the vocabulary). Token
    counts are log-uniform in [``min_tokens``, ``max_tokens``] (1030 = a ColPali page)."""
    rng = np.random.default_rng(seed)
    vocab = make_vocab(rng, n_topics)
    topics = rng.integers(0, n_topics, size=n_pages)
    lengths = np.exp(rng.uniform(np.log(min_tokens), np.log(max_tokens + 1), size=n_pages)).astype(np.int64)
    pages = [topic_page(rng, vocab, int(t), int(n), token_cos).astype(np.float16) for t, n in zip(topics, lengths)]
    return pages, topics, vocab
