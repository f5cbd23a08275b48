"""The quality and identity checks of ``bench_maxsim``: what its exit status rests on.

Kept apart from the timing script so that each rule is stated once and can be tested on small
arrays: a benchmark whose checks cannot fail (or whose failures only print) proves nothing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["failed_checks", "ndcg_at_5", "planted_ranks", "same_answer"]


def same_answer(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether two top-k answers ``(scores, pages)`` are the same pages in the same order with
    the same float32 scores bit for bit."""
    return bool(np.array_equal(a[1], b[1]) and np.asarray(a[0], np.float32).tobytes() == np.asarray(b[0], np.float32).tobytes())


def ndcg_at_5(ranked: np.ndarray, relevant: np.ndarray) -> float:
    """Mean nDCG@5 with one relevant page per query (ideal DCG = 1)."""
    gains = []
    for row, rel in zip(ranked[:, :5], relevant):
        pos = np.flatnonzero(row == rel)
        gains.append(1.0 / np.log2(pos[0] + 2) if pos.size else 0.0)
    return float(np.mean(gains))


def planted_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Each query's planted page's rank (0 = first) under ``scores`` (queries x pages), counting
    every other page that scores at least as high: Hamming scores are integers and tie often,
    and a tie at the top is not "ranked first"."""
    return np.array([int((row >= row[r]).sum()) - 1 for row, r in zip(scores, relevant)])


def failed_checks(*, identical: bool, binary_same: bool | None, max_diff: float, max_score_diff: float,
                  kept: float, hamming_kept: float, min_kept: float) -> list[str]:
    """One line per failed check (empty: all passed). ``binary_same`` is None where there is no
    screened rerank to compare with the plain one."""
    failed = []
    if not identical:
        failed.append("exact-screened's timed top-5 differs from float32's (pages, order or scores)")
    if binary_same is False:
        failed.append("binary (rerank through the int16 screen) differs from binary-plain")
    if not max_diff <= max_score_diff:
        failed.append(f"float32 scores differ from the reference's by {max_diff:.2e} > {max_score_diff:g}")
    if not kept >= min_kept:  # nan fails too
        failed.append(f"binary keeps {kept:.3f} of float32's nDCG@5 < {min_kept}")
    if not hamming_kept < min_kept:
        failed.append(f"the Hamming stage alone keeps {hamming_kept:.3f} >= {min_kept} of float32's nDCG@5: the data is "
                      "too easy for the nDCG check to mean anything (lower --plant-cos)")
    return failed
